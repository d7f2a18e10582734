"""The event-handler probe: the abuse-protection OPTIONS request, as the service sends it.

Only OPTIONS, no redirects followed, a short timeout, never to loopback, link-local or cloud
metadata addresses. The URL's query string (function keys, signatures) is sent, because the
service sends it too, but never logged, stored or put in a message.
"""
from __future__ import annotations

import ipaddress
import itertools
import socket
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from watchdog.azure import USER_AGENT
from watchdog.collect.calls import Calls
from watchdog.collect.errors import brief
from watchdog.models import EventHandler, HandlerProbe, Resource, Sensitive
from watchdog.throttle import PROBE

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

BLOCKED_NAMES = frozenset({"localhost", "metadata.azure.internal", "metadata.google.internal"})
METADATA_IPS = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                          ipaddress.ip_address("168.63.129.16")})  # Azure's wireserver, too
PROBE_EVENT = "validate"


def new_session(size: int) -> Any:
    """A connection pool for customer hosts only, apart from the Azure clients' pool: probes must
    not evict Azure hosts' connections (urllib3 keeps a bounded number of host pools) nor wait
    for them. `size`: connections kept per host, the most probes in flight to one host."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=32, pool_maxsize=size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class HostGate:
    """At most `per_host` probes in flight to one host: many resources often share one handler
    host, and the probe must stay a polite trickle to it."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._lock = threading.Lock()
        self._gates: dict[str, threading.BoundedSemaphore] = {}

    def __call__(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            gate = self._gates.get(host.lower())
            if gate is None:
                gate = self._gates[host.lower()] = threading.BoundedSemaphore(self._per_host)
            return gate


def fill(template: str, hub: str) -> str:
    return template.replace("{event}", PROBE_EVENT).replace("{hub}", hub)


def blocked_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip in METADATA_IPS


def blocked_reason(url: str) -> str | None:
    """Why the probe must not go to `url`, or None. Names are resolved here only when no proxy
    applies: through a proxy the proxy resolves the name (and the local resolver may know nothing
    of it), while a direct connection goes where this resolver says, so that is what is checked.
    (A name re-pointed between this check and the connection is not caught; the probe sends only
    an OPTIONS with no credentials of ours, which bounds what such a trick could reach.)"""
    import requests
    from requests.utils import get_environ_proxies

    parts = requests.utils.urlparse(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("https", "http") or not host:
        return "not an http(s) URL with a host"
    if host in BLOCKED_NAMES or host.endswith(".localhost"):
        return f"{host} is a local or metadata name"
    if blocked_address(host):
        return f"{host} is a loopback, link-local or metadata address"
    if get_environ_proxies(url):
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except OSError:
        return None  # unresolvable: the request itself reports the DNS failure
    for info in infos:
        if blocked_address(str(info[4][0])):
            return f"{host} resolves to a loopback, link-local or metadata address"
    return None


def _allowed(header: str | None, host: str) -> bool:
    if not header:
        return False
    for token in header.split(","):
        token = token.strip().lower()
        if token == "*" or token == host or token.split("://", 1)[-1].rstrip("/") == host:
            return True
    return False


def classify_exception(exc: BaseException) -> str:
    """dns, tls, timeout or connection, from a requests exception."""
    import requests

    text = repr(exc).lower()
    if isinstance(exc, requests.exceptions.SSLError) or "certificate" in text or "ssl" in text:
        return "tls"
    if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text:
        return "timeout"
    if any(s in text for s in ("resolve", "name or service not known", "nodename nor servname",
                               "getaddrinfo", "no address associated", "nameresolutionerror")):
        return "dns"
    return "connection"


def classify_response(status: int, allowed_origin: str | None, resource_host: str) -> str | None:
    """None when healthy; else redirect, status or missing-allowed-origin."""
    if 300 <= status < 400:
        return "redirect"
    if not 200 <= status < 300:
        return "status"
    if not _allowed(allowed_origin, resource_host):
        return "missing-allowed-origin"
    return None


def probe(handler: EventHandler, template: Sensitive, resource_host: str, timeout: float,
          session: Any) -> HandlerProbe:
    """`session`: a requests.Session (the clients' pool). Never raises."""
    import requests

    url = fill(template.reveal(), handler.hub)
    reason = blocked_reason(url)
    if reason is not None:
        return HandlerProbe(handler, ok=False, cause="blocked", detail=reason)
    headers = {"WebHook-Request-Origin": resource_host, "ce-awpsversion": "1.0", "User-Agent": USER_AGENT}
    try:
        response = session.request("OPTIONS", url, headers=headers, allow_redirects=False, timeout=timeout)
    except requests.RequestException as exc:
        cause = classify_exception(exc)
        return HandlerProbe(handler, ok=False, cause=cause, detail=brief(f"{cause}: {type(exc).__name__}"))
    with response:
        cause = classify_response(response.status_code, response.headers.get("WebHook-Allowed-Origin"),
                                  resource_host)
    if cause is None:
        return HandlerProbe(handler, ok=True, status=response.status_code)
    detail = {"redirect": "the handler redirects; the service does not follow redirects",
              "status": f"the handler answered {response.status_code}",
              "missing-allowed-origin": f"no WebHook-Allowed-Origin: * or {resource_host} in the answer"}[cause]
    return HandlerProbe(handler, ok=False, cause=cause, status=response.status_code, detail=detail)


# -- in the sweep --------------------------------------------------------------------------------


def submit(calls: Calls, session: Any, clients: AzureClients, per_host: int, timeout: float,
           by_id: Mapping[str, Resource], found: Mapping[str, Sequence[tuple[EventHandler, Sensitive]]],
           ) -> dict[str, list[Future[HandlerProbe | None]]]:
    """One probe per handler (`calls`: the probe pool; `session`: new_session's), at most
    `per_host` (WATCHDOG_PROBE_PER_HOST) in flight per host."""
    gate = HostGate(per_host)

    def run(handler: EventHandler, template: Sensitive, resource: Resource) -> HandlerProbe:
        with gate(handler.host):
            clients.counter.add(PROBE)
            return probe(handler, template, resource.host_name, timeout, session)

    # Submitted host by host in turn, so the pool's threads spread over hosts instead of queueing
    # behind one host's gate.
    by_host: dict[str, list[tuple[str, EventHandler, Sensitive]]] = {}
    for rid, pairs in found.items():
        for h, t in pairs:
            by_host.setdefault(h.host.lower(), []).append((rid, h, t))
    out: dict[str, list[Future[HandlerProbe | None]]] = {rid: [] for rid in found}
    for turn in itertools.zip_longest(*by_host.values()):
        for rid, h, t in filter(None, turn):
            out[rid].append(calls.submit(lambda h=h, t=t, r=by_id[rid]: run(h, t, r), "handlers",
                                         resource_id=by_id[rid].id, subject=h.url_redacted))
    return out


def collect(submitted: Mapping[str, list[Future[HandlerProbe | None]]]) -> dict[str, list[HandlerProbe]]:
    return {rid: [p for f in futures if (p := f.result()) is not None] for rid, futures in submitted.items()}
