"""Consumers of bound secrets: which App Service / Function apps read them, and what they resolved.

Per subscription: one `Microsoft.Web/sites` list; per site, its Key Vault reference status
(`GET {site}/config/configreferences/appsettings`). Never a setting's value: the status API
gives reference texts, versions and statuses only, and `config/appsettings/list` (every secret of
the app) is never called. No azure-mgmt-web in the dependencies: the calls go through the
Web PubSub management client's ARM pipeline (same credential, retries, rate limiter, counting).
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from watchdog.collect.errors import to_error
from watchdog.consumers import Consumer, Site, consumers_from_references, parse_reference, site_from_arm
from watchdog.models import BoundSecret, ObservationError, Resource

if TYPE_CHECKING:
    from watchdog.azure import AzureClients
    from watchdog.collect.calls import Calls

ARM = "https://management.azure.com"
API_VERSION = "2024-11-01"  # Microsoft.Web stable (bicep-types lists Microsoft.Web/sites@2024-11-01)
SOURCE = "consumers"
LIST_ACTION = "Microsoft.Web/sites/Read"
READ_ACTION = "Microsoft.Web/sites/config/Read"
MAX_PAGES = 100  # a runaway nextLink chain ends here
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


def arm_call(clients: AzureClients, subscription_id: str, method: str, path_or_url: str) -> Any:
    """One ARM call through the shared pipeline; the JSON body (None when empty). Raises
    HttpResponseError (ARM's error format) on any non-2xx answer."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest
    from azure.mgmt.core.exceptions import ARMErrorFormat

    url = path_or_url if path_or_url.startswith("https://") else f"{ARM}{path_or_url}"
    if "api-version=" not in url:
        url += ("&" if "?" in url else "?") + f"api-version={API_VERSION}"
    response = clients.webpubsub(subscription_id)._send_request(HttpRequest(method, url))  # noqa: SLF001
    if not 200 <= response.status_code < 300:
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    return response.json() if response.content else None


def _pages(clients: AzureClients, subscription_id: str, path: str) -> Iterator[dict[str, Any]]:
    url: str | None = path
    for _ in range(MAX_PAGES):
        if not url:
            return
        body = arm_call(clients, subscription_id, "GET", url) or {}
        yield from body.get("value") or []
        url = body.get("nextLink")


def list_sites(clients: AzureClients, subscription_id: str) -> tuple[list[Site], list[ObservationError]]:
    """Every App Service / Function app of the subscription (one list, paged)."""
    try:
        bodies = list(_pages(clients, subscription_id, f"/subscriptions/{subscription_id}/providers/Microsoft.Web/sites"))
    except Exception as exc:  # noqa: BLE001 - any failure is a blind spot, never a crash
        return [], [to_error(exc, SOURCE, subject=f"/subscriptions/{subscription_id}", action=LIST_ACTION)]
    sites, errors = [], []
    for body in bodies:
        try:
            sites.append(site_from_arm(body))
        except (KeyError, ValueError, TypeError) as exc:
            errors.append(ObservationError(SOURCE, "error", f"unreadable site in the list: {exc}",
                                           subject=f"/subscriptions/{subscription_id}"))
    return sites, errors


def read_consumers(clients: AzureClients, site: Site, secrets: Iterable[BoundSecret], now: datetime,
                   index: SiteIndex | None = None) -> tuple[list[Consumer], ObservationError | None]:
    """The references of `site` that read one of `secrets`, with their status."""
    wanted = [(s.vault_url, s.name) for s in secrets]
    try:
        items = list(_pages(clients, site.id.split("/")[2],
                            f"{site.id}/config/configreferences/appsettings"))
    except Exception as exc:  # noqa: BLE001
        return [], to_error(exc, SOURCE, subject=site.id, action=READ_ACTION)
    if index is not None:
        index.remember(site, items, now)
    return consumers_from_references(site, items, wanted, now), None


def collect(clients: AzureClients, subscription_id: str, secrets_by_resource: dict[str, tuple[BoundSecret, ...]],
            now: datetime, index: SiteIndex | None = None
            ) -> tuple[dict[str, tuple[Consumer, ...] | None], list[ObservationError]]:
    """Consumers per resource id (lower case) of one subscription: for each resource, the apps
    reading any of its bound secrets. A resource gets None (not read) when the sites list or a
    site's references could not be read, so no consumer finding resolves on a blind read.
    Without any bound secret nothing is read (no secret, no consumer)."""
    if not any(secrets_by_resource.values()):
        return {rid.lower(): () for rid in secrets_by_resource}, []
    sites, errors = list_sites(clients, subscription_id)
    if errors and not sites:
        return {rid.lower(): None for rid in secrets_by_resource}, errors
    all_secrets = [s for group in secrets_by_resource.values() for s in group]
    found: list[Consumer] = []
    blind = False
    wanted = [(s.vault_url, s.name) for s in all_secrets]
    for site in sites:
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
           secrets: Mapping[str, list[BoundSecret]], index: SiteIndex | None, now: datetime
           ) -> dict[str, Future[Any]]:
    """One consumers read per subscription that has bound secrets (a sites list, then the
    reference status of each site not known to read none of them)."""
    per_sub: dict[str, dict[str, tuple[BoundSecret, ...]]] = {}
    for rid, r in by_id.items():
        if secrets.get(rid):
            per_sub.setdefault(r.subscription_id.lower(), {})[rid] = tuple(secrets[rid])
    return {sub: calls.spawn(lambda sub=sub, group=group: collect(clients, sub, group, now, index))
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
