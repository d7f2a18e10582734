"""The subscription's App Service and Function apps (one paged Microsoft.Web/sites list per
subscription, kept by the process for SITES_MAX_AGE): where an event handler runs, and in which region.

azure-mgmt-web is not a dependency, so the list is a GET through the management client's pipeline
(same credential, retries, rate limiter and call counting), as diagnostic settings are read.
(The consumers work lists sites too, in watchdog/collect/consumers.py: the two should share this.)
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from watchdog.models import WebSite

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

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
                   host_names=tuple(dict.fromkeys([h for h in (default, *others) if h])))


def _get(clients: AzureClients, subscription_id: str, url: str) -> dict[str, Any]:
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest
    from azure.mgmt.core.exceptions import ARMErrorFormat

    response = clients.monitor(subscription_id)._send_request(HttpRequest("GET", url))  # noqa: SLF001
    if response.status_code != 200:
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    return response.json()


def list_sites(clients: AzureClients, subscription_id: str) -> tuple[WebSite, ...]:
    from watchdog.azure import ARM

    url: str | None = f"{ARM}/subscriptions/{subscription_id}/providers/Microsoft.Web/sites?api-version={API_VERSION}"
    found: list[WebSite] = []
    for _ in range(MAX_PAGES):
        if not url:
            break
        body = _get(clients, subscription_id, url)
        found += [from_arm(item) for item in body.get("value") or ()]
        url = body.get("nextLink")
    return tuple(found)


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
