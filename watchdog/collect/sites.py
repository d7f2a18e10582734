"""The subscription's App Service and Function apps: the one reader of the Microsoft.Web/sites list
(one paged list per subscription, kept by the process for SITES_MAX_AGE), shared by
upstream/cross-region (where an event handler runs, and in which region) and the consumers
collector (which apps read a bound secret), and the ARM call both make for Microsoft.Web.

azure-mgmt-web is not a dependency, so the calls go through the Web PubSub management client's
pipeline (same credential, retries, rate limiter and call counting), as diagnostic settings are read.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from watchdog.models_resource import WebSite

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

ARM = "https://management.azure.com"
API_VERSION = "2024-11-01"  # Microsoft.Web stable (bicep-types lists Microsoft.Web/sites@2024-11-01)
ACTION = "Microsoft.Web/sites/Read"
MAX_PAGES = 200  # a guard against a nextLink loop, far above any real subscription
SITES_MAX_AGE = timedelta(hours=6)  # a site never changes region; new sites are seen within this


def from_arm(body: Mapping[str, Any]) -> WebSite:
    props = body.get("properties") or {}
    default = str(props.get("defaultHostName") or "").lower()
    others = [str(h).lower() for h in props.get("hostNames") or () if str(h).lower() != default]
    return WebSite(id=str(body["id"]), name=str(body.get("name") or ""),
                   location=str(body.get("location") or "").replace(" ", "").lower(),
                   host_names=tuple(dict.fromkeys([h for h in (default, *others) if h])),
                   kind=str(body.get("kind") or "app"))


def arm_call(clients: AzureClients, subscription_id: str, method: str, path_or_url: str) -> Any:
    """One Microsoft.Web call through the shared ARM pipeline; the JSON body (None when empty).
    Raises HttpResponseError (ARM's error format) on any non-2xx answer."""
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


def pages(clients: AzureClients, subscription_id: str, path: str) -> Iterator[dict[str, Any]]:
    """The `value` items of a paged Microsoft.Web list, following nextLink (at most MAX_PAGES)."""
    url: str | None = path
    for _ in range(MAX_PAGES):
        if not url:
            return
        body = arm_call(clients, subscription_id, "GET", url) or {}
        yield from body.get("value") or []
        url = body.get("nextLink")


def list_sites(clients: AzureClients, subscription_id: str) -> tuple[WebSite, ...]:
    """Every App Service / Function app of the subscription (one list, paged); an entry without
    an id is skipped (it names no app)."""
    return tuple(from_arm(item) for item in pages(clients, subscription_id,
                                                    f"/subscriptions/{subscription_id}/providers/Microsoft.Web/sites")
                 if item.get("id"))


def hosting(sites: Iterable[WebSite], hosts: Iterable[str]) -> tuple[WebSite, ...]:
    """The sites serving any of `hosts` (compared case-blind)."""
    wanted = {h.lower() for h in hosts}
    return tuple(s for s in sites if wanted & set(s.host_names))


class SitesCache:
    """Per subscription: its sites and when they were listed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sites: dict[str, tuple[datetime, tuple[WebSite, ...]]] = {}

    def get(self, subscription_id: str, now: datetime) -> tuple[WebSite, ...] | None:
        with self._lock:
            entry = self._sites.get(subscription_id.lower())
        return None if entry is None or now - entry[0] >= SITES_MAX_AGE else entry[1]

    def put(self, subscription_id: str, sites: tuple[WebSite, ...], now: datetime) -> None:
        with self._lock:
            self._sites[subscription_id.lower()] = (now, sites)
