"""Discovery for an on-demand check of named resources: a direct GET per resource instead of the
subscription-wide list (20 pages, about 4 s at 1,000 resources), so checking one resource costs
what that resource needs. Ids are fetched as given; a bare name is resolved through the ids the
ledger's cache knows (collect/cache.py); a name it does not know, or knows in several resource
groups, falls back to the list, as does a sweep of everything."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from watchdog.collect import cache, inventory
from watchdog.collect.calls import Calls, results
from watchdog.models_resource import Resource
from watchdog.scope import Scope

if TYPE_CHECKING:
    from watchdog.azure import AzureClients


def get_resource(client: Any, resource_id: str) -> Resource | None:
    """`client`: the subscription's WebPubSubManagementClient. None for a resource tagged watchdog-ignore."""
    parts = resource_id.split("/")
    found = inventory.to_resource(parts[2], client.web_pub_sub.get(parts[4], parts[8]))
    return None if inventory.ignored(dict(found.tags)) else found


def ids_of(scope: Scope, subscriptions: Sequence[str], known: Iterable[str]) -> list[str] | None:
    """The resource ids `scope` names, or None when a name is not known in exactly one place."""
    known = list(known)
    out = []
    for wanted in scope.resources:
        if wanted.startswith("/"):
            out.append(wanted)
            continue
        matches = [k for k in known if k.rsplit("/", 1)[-1] == wanted.lower() and k.split("/")[2] in subscriptions]
        if len(matches) != 1:
            return None
        out.append(matches[0])
    return list(dict.fromkeys(out))


def discover(calls: Calls, clients: AzureClients, subscriptions: Sequence[str], scope: Scope,
             store: Any | None) -> list[Resource]:
    """The resources `scope` includes, in id order. `store`: the ledger (or None), for names."""
    known = store.cached_all(cache.RESOURCE_KIND) if scope.resources and store is not None else {}
    ids = ids_of(scope, subscriptions, known) if scope.resources else None
    if ids is None:
        return inventory.discover(calls, clients, subscriptions, scope)
    # subject, not resource_id: a resource that cannot be read has no observation to carry the error.
    futures = {rid: calls.submit(lambda rid=rid: get_resource(clients.webpubsub(rid.split("/")[2].lower()), rid),
                                 "inventory", subject=rid, action=inventory.READ_ACTION) for rid in ids}
    return sorted(results(futures).values(), key=lambda r: r.id.lower())
