"""The event-handler probe: the abuse-protection OPTIONS request, as the service sends it.

Only OPTIONS, no redirect followed (a 3xx is a failure naming it), never to a loopback,
link-local, metadata or other refused address in any notation (netguard), a wall-clock deadline
per probe and at most BODY_CAP bytes read. The URL's query string (function keys, signatures)
is sent, because the service sends it too, but never logged, stored or put in a message.
"""
from __future__ import annotations

import http.client
import itertools
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Mapping, Sequence
from urllib.parse import urlsplit

from watchdog.azure import USER_AGENT
from watchdog.collect import netguard, probe_http
from watchdog.collect.calls import Calls
from watchdog.collect.errors import brief
from watchdog.models import HandlerProbe, Sensitive
from watchdog.models_resource import EventHandler, Resource
from watchdog.throttle import PROBE, SweepDeadline

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

PROBE_EVENT = "validate"
BODY_CAP = 64 * 1024  # the verdict needs the status and headers; the body is read only to reuse the connection
LEAST_BUDGET = 0.5  # seconds: with less left of the sweep, a probe is deferred rather than cut short


def new_session(size: int) -> Any:
    """A connection pool for customer hosts only, apart from the Azure clients' pool: probes must
    not evict Azure hosts' connections (urllib3 keeps a bounded number of host pools) nor wait
    for them. `size`: connections kept per host, the most probes in flight to one host. Its
    connections are checked by netguard at connect time and obey each probe's Deadline."""
    return probe_http.new_session(size)


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


def _redirect_detail(status: int, location: str | None) -> str:
    try:
        to = urlsplit(location or "").hostname
    except ValueError:
        to = None
    where = f" to {to}" if to else ""
    return f"the handler redirects ({status}{where}); the service does not follow redirects, nor does the probe"


def _read_capped(response: Any) -> None:
    """Read at most BODY_CAP bytes, undecoded; a longer body is left unread (the connection is
    then closed instead of reused)."""
    response.raw.read(BODY_CAP, decode_content=False)


def probe(handler: EventHandler, template: Sensitive, resource_host: str, timeout: float,
          session: Any, budget: float | None = None) -> HandlerProbe:
    """`session`: from new_session. `budget`: seconds left for probes in this sweep; the probe's
    deadline is the smaller of it and `timeout`. Raises SweepDeadline when too little is left
    (a blind spot, not a failure); otherwise never raises."""
    import requests
    from urllib3.exceptions import HTTPError

    if budget is not None and budget < LEAST_BUDGET:
        raise SweepDeadline("no time left before the sweep deadline to probe this handler")
    url = fill(template.reveal(), handler.hub)
    verdict = netguard.check_url(url)
    if verdict.reason is not None:
        return HandlerProbe(handler, ok=False, cause=verdict.cause, detail=verdict.reason)
    headers = {"WebHook-Request-Origin": resource_host, "ce-awpsversion": "1.0", "User-Agent": USER_AGENT}
    seconds = min(timeout, budget) if budget is not None else timeout
    with probe_http.Deadline(seconds) as deadline:
        try:
            response = session.request("OPTIONS", url, headers=headers, allow_redirects=False, stream=True,
                                       timeout=seconds)
            with response:
                _read_capped(response)
        except (requests.RequestException, HTTPError, http.client.HTTPException, OSError) as exc:
            if (refused := probe_http.refusal(exc)) is not None:
                return HandlerProbe(handler, ok=False, cause=refused.cause, detail=refused.reason or "")
            if deadline.expired:
                return HandlerProbe(handler, ok=False, cause="timeout", detail=f"timeout: no answer within {seconds:g} s")
            cause = classify_exception(exc)
            return HandlerProbe(handler, ok=False, cause=cause, detail=brief(f"{cause}: {type(exc).__name__}"))
    if deadline.expired:  # cut mid-body: a read may end short instead of failing
        return HandlerProbe(handler, ok=False, cause="timeout", status=response.status_code,
                            detail=f"timeout: no complete answer within {seconds:g} s")
    cause = classify_response(response.status_code, response.headers.get("WebHook-Allowed-Origin"), resource_host)
    if cause is None:
        return HandlerProbe(handler, ok=True, status=response.status_code)
    detail = {"redirect": _redirect_detail(response.status_code, response.headers.get("Location")),
              "status": f"the handler answered {response.status_code}",
              "missing-allowed-origin": f"no WebHook-Allowed-Origin: * or {resource_host} in the answer"}[cause]
    return HandlerProbe(handler, ok=False, cause=cause, status=response.status_code, detail=brief(detail))


# -- in the sweep --------------------------------------------------------------------------------


def submit(calls: Calls, session: Any, clients: AzureClients, per_host: int, timeout: float,
           by_id: Mapping[str, Resource], found: Mapping[str, Sequence[tuple[EventHandler, Sensitive]]],
           ) -> dict[str, list[Future[HandlerProbe | None]]]:
    """One probe per handler (`calls`: the probe pool; `session`: new_session's), at most
    `per_host` (WATCHDOG_PROBE_PER_HOST) in flight per host."""
    gate = HostGate(per_host)

    def run(handler: EventHandler, template: Sensitive, resource: Resource) -> HandlerProbe:
        with gate(handler.host):
            # Probes end by the sweep deadline, so collection never waits on them past it.
            budget = None if clients.deadline is None else clients.deadline - clients.limiter.now()
            clients.counter.add(PROBE)
            return probe(handler, template, resource.host_name, timeout, session, budget)

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
