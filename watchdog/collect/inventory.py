"""Discovery: the Web PubSub resources of a subscription, their allowed unit counts and hubs."""
from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Iterable, Sequence
from urllib.parse import urlsplit

from watchdog import tags
from watchdog.collect.calls import Calls, results
from watchdog.models import Sensitive
from watchdog.models_resource import EventHandler, NetworkAcls, PrivateEndpoint, Resource
from watchdog.redact import redact_url
from watchdog.scope import Scope

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

SKU_ACTION = "Microsoft.SignalRService/WebPubSub/skus/read"
HUBS_ACTION = "Microsoft.SignalRService/WebPubSub/hubs/read"
READ_ACTION = "Microsoft.SignalRService/WebPubSub/read"


def resource_group_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[4] if len(parts) > 4 else ""


def ignored(resource_tags: dict[str, str]) -> bool:
    """Tag watchdog-ignore with any value but "false" opts a resource out (tag names are
    case-insensitive in ARM)."""
    for name, value in resource_tags.items():
        if name.lower() == tags.IGNORE:
            return (value or "").strip().lower() != "false"
    return False


def to_resource(subscription_id: str, item: Any) -> Resource:
    sku = item.sku
    host = item.host_name or f"{item.name.lower()}.webpubsub.azure.com"
    return Resource(
        id=item.id,
        subscription_id=subscription_id.lower(),
        resource_group=resource_group_of(item.id),
        name=item.name,
        location=(item.location or "").replace(" ", "").lower(),
        host_name=host.lower(),
        sku_name=sku.name if sku else "",
        sku_tier=(sku.tier if sku else "") or "",
        capacity=(sku.capacity if sku and sku.capacity is not None else 1),
        tags=dict(item.tags or {}),
        disable_local_auth=bool(item.disable_local_auth),
        public_network_access=item.public_network_access or "Enabled",
        provisioning_state=item.provisioning_state or "Succeeded",
        resource_stopped=_stopped(getattr(item, "resource_stopped", None)),
        private_endpoints=tuple(_endpoint(c) for c in getattr(item, "private_endpoint_connections", None) or ()),
        network_acls=_acls(getattr(item, "network_ac_ls", None)),
    )


def _stopped(value: Any) -> bool | None:
    """resourceStopped is a string ("true"/"false") in 2024-03-01; None when absent."""
    if value is None:
        return None
    return str(value).strip().lower() == "true"


def _endpoint(conn: Any) -> PrivateEndpoint:
    state = conn.private_link_service_connection_state
    return PrivateEndpoint(name=conn.name or "", status=(state.status if state and state.status else "") or "")


def _acls(acls: Any) -> NetworkAcls | None:
    if acls is None or not acls.default_action:
        return None
    public = acls.public_network
    return NetworkAcls(default_action=acls.default_action,
                       public_allow=tuple(public.allow or ()) if public else (),
                       public_deny=tuple(public.deny or ()) if public else ())


def list_resources(client: Any, subscription_id: str) -> list[Resource]:
    """Every Web PubSub resource in the subscription, minus those tagged watchdog-ignore.
    `client`: a WebPubSubManagementClient for that subscription."""
    resources = (to_resource(subscription_id, item) for item in client.web_pub_sub.list_by_subscription())
    return [r for r in resources if not ignored(dict(r.tags))]


class SkuCache:
    """Allowed unit counts per SKU name. They are the same for every resource of a SKU, so one
    list_skus per SKU name serves the process; the lock makes concurrent sweeps ask once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._allowed: dict[str, tuple[int, ...]] = {}

    def get(self, sku_name: str) -> tuple[int, ...] | None:
        with self._lock:
            return self._allowed.get(sku_name.lower())

    def load(self, client: Any, resource: Resource) -> tuple[int, ...]:
        """list_skus on `resource`; caches every SKU it returns. An unknown SKU gives ()."""
        found: dict[str, tuple[int, ...]] = {}
        for entry in client.web_pub_sub.list_skus(resource.resource_group, resource.name).value or ():
            name = entry.sku.name if entry.sku else None
            allowed = entry.capacity.allowed_values if entry.capacity else None
            if name and allowed:
                found[name.lower()] = tuple(sorted(int(v) for v in allowed))
        with self._lock:
            self._allowed.update(found)
        return found.get(resource.sku_name.lower(), ())

    def submit(self, calls: Calls, clients: AzureClients, resources: Iterable[Resource]) -> list[Future[Any]]:
        """One list_skus per SKU name not known yet."""
        first_of_sku: dict[str, Resource] = {}
        for r in resources:
            if self.get(r.sku_name) is None:
                first_of_sku.setdefault(r.sku_name.lower(), r)
        return [calls.submit(lambda r=r: self.load(clients.webpubsub(r.subscription_id), r), "skus",
                             resource_id=r.id, action=SKU_ACTION) for r in first_of_sku.values()]




def list_hubs(client: Any, resource: Resource) -> tuple[tuple[str, ...], list[tuple[EventHandler, Sensitive]]]:
    """The resource's hub settings: every hub's name (a hub with no handler too, which the hubs rule
    judges) and each configured event handler, with its full URL template kept as Sensitive: the
    probe must call the URL the service calls (an Azure Functions handler needs its ?code=), but the
    template is never stored or logged; the model keeps only the redacted URL."""
    names: list[str] = []
    handlers: list[tuple[EventHandler, Sensitive]] = []
    for hub in client.web_pub_sub_hubs.list(resource.resource_group, resource.name):
        names.append(hub.name)
        props = hub.properties
        for h in (props.event_handlers or ()) if props else ():
            template = h.url_template or ""
            handler = EventHandler(
                hub=hub.name,
                # Never the query string or fragment (function keys, signatures), nor user info.
                url_redacted=redact_url(template),
                host=(urlsplit(template.strip()).hostname or "").lower(),
                user_event_pattern=h.user_event_pattern,
                system_events=tuple(h.system_events or ()),
                auth_type=(h.auth.type if h.auth and h.auth.type else "None"),
            )
            handlers.append((handler, Sensitive(h.url_template or "")))
    return tuple(names), handlers



def discover(calls: Calls, clients: AzureClients, subscriptions: Sequence[str], scope: Scope) -> list[Resource]:
    """The resources of every subscription that `scope` includes, in id order."""
    futures = {sub: calls.submit(lambda sub=sub: list_resources(clients.webpubsub(sub), sub), "inventory",
                                 subject=f"/subscriptions/{sub}", action=READ_ACTION)
               for sub in subscriptions}
    found = [r for listed in results(futures).values() for r in listed]
    return sorted((r for r in found if scope.includes(r.id, r.name)), key=lambda r: r.id.lower())
