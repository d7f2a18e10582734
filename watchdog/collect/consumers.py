"""Consumers of bound secrets: which App Service / Function apps read them, and what they resolved.

Per subscription: one `Microsoft.Web/sites` list; per site, its Key Vault reference status
(`GET {site}/config/configreferences/appsettings`). Never a setting's value: the status API
gives reference texts, versions and statuses only, and `config/appsettings/list` (every secret of
the app) is never called. No azure-mgmt-web in the dependencies: the calls go through the
Web PubSub management client's ARM pipeline (same credential, retries, rate limiter, counting).
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from watchdog.collect.errors import to_error
from watchdog.consumers import Consumer, Site, consumers_from_references, site_from_arm
from watchdog.models import BoundSecret, ObservationError

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

ARM = "https://management.azure.com"
API_VERSION = "2024-11-01"  # Microsoft.Web stable (bicep-types lists Microsoft.Web/sites@2024-11-01)
SOURCE = "consumers"
LIST_ACTION = "Microsoft.Web/sites/Read"
READ_ACTION = "Microsoft.Web/sites/config/Read"
MAX_PAGES = 100  # a runaway nextLink chain ends here


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


def read_consumers(clients: AzureClients, site: Site, secrets: Iterable[BoundSecret],
                   now: datetime) -> tuple[list[Consumer], ObservationError | None]:
    """The references of `site` that read one of `secrets`, with their status."""
    wanted = [(s.vault_url, s.name) for s in secrets]
    try:
        items = list(_pages(clients, site.id.split("/")[2],
                            f"{site.id}/config/configreferences/appsettings"))
    except Exception as exc:  # noqa: BLE001
        return [], to_error(exc, SOURCE, subject=site.id, action=READ_ACTION)
    return consumers_from_references(site, items, wanted, now), None


def collect(clients: AzureClients, subscription_id: str, secrets_by_resource: dict[str, tuple[BoundSecret, ...]],
            now: datetime) -> tuple[dict[str, tuple[Consumer, ...] | None], list[ObservationError]]:
    """Consumers per resource id (lower case) of one subscription: for each resource, the apps
    reading any of its bound secrets. A resource gets None (not read) when the sites list or a
    site's references could not be read, so no consumer finding resolves on a blind read."""
    sites, errors = list_sites(clients, subscription_id)
    if errors and not sites:
        return {rid.lower(): None for rid in secrets_by_resource}, errors
    all_secrets = [s for group in secrets_by_resource.values() for s in group]
    found: list[Consumer] = []
    blind = False
    for site in sites:
        consumers, error = read_consumers(clients, site, all_secrets, now)
        if error is not None:
            errors.append(error)
            blind = True
        found.extend(consumers)
    out: dict[str, tuple[Consumer, ...] | None] = {}
    for rid, group in secrets_by_resource.items():
        uris = {s.uri.lower() for s in group}
        out[rid.lower()] = None if blind else tuple(c for c in found if c.secret_uri.lower() in uris)
    return out, errors
