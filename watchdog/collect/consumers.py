"""Consumers of bound secrets: which App Service / Function apps read them, and what they resolved.

Per subscription: one `Microsoft.Web/sites` list (the shared reader, watchdog/collect/sites.py, or
the sweep's list passed in); per site, its Key Vault reference status
(`GET {site}/config/configreferences/appsettings`). Never a setting's value: the status API
gives reference texts, versions and statuses only, and `config/appsettings/list` (every secret of
the app) is never called. The calls go through sites.arm_call (no azure-mgmt-web).
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from watchdog.collect import sites
from watchdog.collect.errors import to_error
from watchdog.consumers import Consumer, Site, consumers_from_references, parse_reference, site_from_listed
from watchdog.models import BoundSecret, ErrorKind, ObservationError
from watchdog.models_resource import Resource, WebSite

if TYPE_CHECKING:
    from watchdog.azure import AzureClients
    from watchdog.collect.calls import Calls

SOURCE = "consumers"
LIST_ACTION = sites.ACTION
READ_ACTION = "Microsoft.Web/sites/config/Read"
# For blind_spots._SOURCES["consumers"]: what a failed read hides, and the rights that fix a 403.
BLIND_SPOT = ("which App Service and Function apps read the bound secrets, and whether they resolve them",
              f"{LIST_ACTION} and {READ_ACTION} (Reader, or the watchdog's custom role)")
INDEX_MAX_AGE = timedelta(hours=6)  # a site reading no bound secret is looked at again after this


class SiteIndex:
    """Which secrets each site's Key Vault references name (vault/name pairs only: no values, no
    versions), remembered by this process between sweeps. A site known to read no bound secret
    is not read again until INDEX_MAX_AGE has passed: a reference added to it meanwhile is found
    that much later. Sites that do read one are read every sweep (their status is the point)."""

    def __init__(self, max_age: timedelta = INDEX_MAX_AGE) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._names: dict[str, tuple[frozenset[tuple[str, str]], datetime]] = {}

    def skip(self, site: Site, wanted: Iterable[tuple[str, str]], now: datetime) -> bool:
        """True when `site` was read recently and names none of `wanted` ((vault URL, name) pairs)."""
        with self._lock:
            known = self._names.get(site.id.lower())
        if known is None or now - known[1] >= self.max_age:
            return False
        return not any(_vault(url) == vault and name.lower() == secret for url, name in wanted
                       for vault, secret in known[0])

    def remember(self, site: Site, items: Iterable[dict[str, Any]], now: datetime) -> None:
        names = set()
        for item in items:
            props = item.get("properties") or {}
            if props.get("vaultName") and props.get("secretName"):
                names.add((str(props["vaultName"]).lower(), str(props["secretName"]).lower()))
            elif (ref := parse_reference(str(props.get("reference") or ""))) is not None:
                names.add((ref.vault, ref.name.lower()))
        with self._lock:
            self._names[site.id.lower()] = (frozenset(names), now)


def _vault(url: str) -> str:
    return url.lower().removeprefix("https://").split(".", 1)[0]


def list_sites(clients: AzureClients, subscription_id: str, listed: tuple[WebSite, ...] | None = None
               ) -> tuple[list[Site], list[ObservationError]]:
    """Every App Service / Function app of the subscription: `listed` when the sweep has listed them
    already (one sites list per subscription, shared with upstream/cross-region), else one list."""
    if listed is None:
        try:
            listed = sites.list_sites(clients, subscription_id)
        except Exception as exc:  # noqa: BLE001 - any failure is a blind spot, never a crash
            return [], [to_error(exc, SOURCE, subject=f"/subscriptions/{subscription_id}", action=LIST_ACTION)]
    found, errors = [], []
    for site in listed:
        try:
            found.append(site_from_listed(site))
        except ValueError as exc:
            errors.append(ObservationError(SOURCE, ErrorKind.ERROR, f"unreadable site in the list: {exc}",
                                           subject=f"/subscriptions/{subscription_id}"))
    return found, errors


def read_consumers(clients: AzureClients, site: Site, secrets: Iterable[BoundSecret], now: datetime,
                   index: SiteIndex | None = None) -> tuple[list[Consumer], ObservationError | None]:
    """The references of `site` that read one of `secrets`, with their status."""
    wanted = [(s.vault_url, s.name) for s in secrets]
    try:
        items = list(sites.pages(clients, site.id.split("/")[2],
                            f"{site.id}/config/configreferences/appsettings"))
    except Exception as exc:  # noqa: BLE001
        return [], to_error(exc, SOURCE, subject=site.id, action=READ_ACTION)
    if index is not None:
        index.remember(site, items, now)
    return consumers_from_references(site, items, wanted, now), None


def collect(clients: AzureClients, subscription_id: str, secrets_by_resource: dict[str, tuple[BoundSecret, ...]],
            now: datetime, index: SiteIndex | None = None, listed: tuple[WebSite, ...] | None = None,
            ) -> tuple[dict[str, tuple[Consumer, ...] | None], list[ObservationError]]:
    """Consumers per resource id (lower case) of one subscription: for each resource, the apps
    reading any of its bound secrets. A resource gets None (not read) when the sites list or a
    site's references could not be read, so no consumer finding resolves on a blind read.
    Without any bound secret nothing is read (no secret, no consumer). `listed`: the sweep's sites
    list of the subscription, when it has one (then no second list is made)."""
    if not any(secrets_by_resource.values()):
        return {rid.lower(): () for rid in secrets_by_resource}, []
    apps, errors = list_sites(clients, subscription_id, listed)
    if errors and not apps:
        return {rid.lower(): None for rid in secrets_by_resource}, errors
    all_secrets = [s for group in secrets_by_resource.values() for s in group]
    found: list[Consumer] = []
    blind = False
    wanted = [(s.vault_url, s.name) for s in all_secrets]
    for site in apps:
        if index is not None and index.skip(site, wanted, now):
            continue
        consumers, error = read_consumers(clients, site, all_secrets, now, index)
        if error is not None:
            errors.append(error)
            blind = True
        found.extend(consumers)
    out: dict[str, tuple[Consumer, ...] | None] = {}
    for rid, group in secrets_by_resource.items():
        uris = {s.uri.lower() for s in group}
        out[rid.lower()] = None if blind else tuple(c for c in found if c.secret_uri.lower() in uris)
    return out, errors


# --- the sweep's wave after the secrets ----------------------------------------------------------


def submit(calls: Calls, clients: AzureClients, by_id: Mapping[str, Resource],
           secrets: Mapping[str, list[BoundSecret]], index: SiteIndex | None, now: datetime,
           listed: Mapping[str, tuple[WebSite, ...]] | None = None) -> dict[str, Future[Any]]:
    """One consumers read per subscription that has bound secrets (a sites list, then the
    reference status of each site not known to read none of them). `listed`: the sites lists the
    sweep already made (upstream/cross-region), by subscription, so no subscription is listed twice."""
    listed = listed or {}
    per_sub: dict[str, dict[str, tuple[BoundSecret, ...]]] = {}
    for rid, r in by_id.items():
        if secrets.get(rid):
            per_sub.setdefault(r.subscription_id.lower(), {})[rid] = tuple(secrets[rid])
    return {sub: calls.spawn(lambda sub=sub, group=group: collect(clients, sub, group, now, index, listed.get(sub)))
            for sub, group in per_sub.items()}


def fold(calls: Calls, futures: Mapping[str, Future[Any]], by_id: Mapping[str, Resource]
         ) -> dict[str, tuple[Consumer, ...] | None]:
    """Consumers per lower-case resource id. A failed read is reported on every resource whose
    consumers it hid (a blind spot naming the missing right), and those resources get None."""
    out: dict[str, tuple[Consumer, ...] | None] = {}
    for future in futures.values():
        found, errors = future.result()
        hidden = [rid for rid, consumers in found.items() if consumers is None]
        for error in errors:
            for rid in hidden or [None]:
                calls.report(replace(error, resource_id=by_id[rid].id) if rid else error)
        out.update(found)
    return out
