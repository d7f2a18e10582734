"""Hostile handlers through the emulator: redirects, trickling answers, names that resolve to
loopback or metadata, and a name re-pointed between the probe's check and its connection."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emulator.runtime import child_env
from watchdog.azure import SweepDeadline
from watchdog.collect import handlers, probe_http
from watchdog.models import Sensitive
from watchdog.models_resource import EventHandler

from .sweep_helpers import observe_by_name, settings_for

pytestmark = pytest.mark.integration
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
HOSTILE = {
    "moved.fabrikam.com": {"behaviour": "redirect", "status": 307, "location": "http://169.254.169.254/latest/meta-data/"},
    "drip.fabrikam.com": {"behaviour": "trickle"},
    "loop.fabrikam.com": {"addresses": ["127.0.0.1"]},
    "meta.fabrikam.com": {"addresses": ["169.254.169.254"]},
    "dual.fabrikam.com": {"addresses": ["198.51.100.20", "::1"]},
    "orders.fabrikam.com": {"behaviour": "ok"},
}


def _scenario(hosts: dict[str, dict]) -> dict:
    return {"name": "hostile", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "eastus", "webpubsub": [{
            "name": "probe-me", "sku": "Standard_S1",
            "hubs": [{"name": host.split(".")[0], "event_handlers": [{"url_template": f"https://{host}/api/{{event}}"}]}
                     for host in hosts]}]}]}],
        "hosts": {h: {"kind": "handler", **spec} for h, spec in hosts.items()}}


def _handler(url: str) -> tuple[EventHandler, Sensitive]:
    from urllib.parse import urlsplit
    return EventHandler("hub", url.split("?")[0], urlsplit(url).hostname or ""), Sensitive(url)


def test_hostile_handlers_through_a_sweep(emulator_factory, monkeypatch):
    emulator = emulator_factory(_scenario(HOSTILE))
    settings = settings_for(emulator, monkeypatch, WATCHDOG_PROBE_TIMEOUT_SECONDS="1")
    started = time.monotonic()
    obs, _ = observe_by_name(settings)
    elapsed = time.monotonic() - started

    probes = {p.handler.hub: p for p in obs["probe-me"].probes}
    assert {hub: p.cause for hub, p in probes.items()} == {
        "moved": "redirect", "drip": "timeout", "loop": "blocked", "meta": "blocked", "dual": "blocked", "orders": None}
    assert probes["moved"].detail.startswith("the handler redirects (307 to 169.254.169.254)")
    assert probes["loop"].detail == "loop.fabrikam.com resolves to a loopback address (127.0.0.1)"
    assert probes["meta"].detail == "meta.fabrikam.com resolves to a cloud metadata address (169.254.169.254)"
    assert probes["dual"].detail == "dual.fabrikam.com resolves to a loopback address (::1)"
    # Refused hosts were never contacted: no tunnel, no request. The redirect was not followed.
    for host in ("loop.fabrikam.com", "meta.fabrikam.com", "dual.fabrikam.com"):
        assert emulator.journal.where(host=host) == [] and emulator.deliveries(host) == []
    assert [d.method for d in emulator.deliveries("moved.fabrikam.com")] == ["OPTIONS"]
    assert not emulator.journal.where(host="169.254.169.254")
    # The trickling handler was answering (one byte per 0.1 s) and still the probe ended on time.
    assert [d.method for d in emulator.deliveries("drip.fabrikam.com")] == ["OPTIONS"]
    assert probes["drip"].detail == "timeout: no complete answer within 1 s" and probes["drip"].status == 200
    assert elapsed < 10


def test_a_trickling_handler_ends_at_the_deadline_not_per_read(emulator_factory):
    emulator_factory(_scenario({"drip.fabrikam.com": {"behaviour": "trickle"}}))
    handler, template = _handler("https://drip.fabrikam.com/api/{event}")
    with handlers.new_session(2) as session:
        started = time.monotonic()
        result = handlers.probe(handler, template, "probe-me.webpubsub.azure.com", 1.5, session)
        took = time.monotonic() - started
        assert result.cause == "timeout"
        assert 1.4 <= took < 2.5  # each byte came within 0.1 s: a per-read timeout would never fire
        # The sweep's budget caps the deadline too, and with too little left nothing is sent.
        started = time.monotonic()
        assert handlers.probe(handler, template, "h", 30, session, budget=0.8).cause == "timeout"
        assert time.monotonic() - started < 1.8
        with pytest.raises(SweepDeadline):
            handlers.probe(handler, template, "h", 30, session, budget=0.1)


def test_a_flooding_handler_is_read_no_further_than_the_cap(emulator_factory):
    """A 1 GiB answer: the verdict needs the headers; the probe reads 64 KiB and hangs up."""
    emulator = emulator_factory(_scenario({"flood.fabrikam.com": {"behaviour": "flood"}}))
    handler, template = _handler("https://flood.fabrikam.com/api/{event}")
    with handlers.new_session(2) as session:
        started = time.monotonic()
        result = handlers.probe(handler, template, "probe-me.webpubsub.azure.com", 20, session)
        took = time.monotonic() - started
    assert result.ok and result.status == 200
    assert took < 3  # reading the whole gibibyte through TLS and the proxy takes far longer
    assert len(emulator.deliveries("flood.fabrikam.com")) == 1


def test_probes_of_one_host_share_a_connection_and_a_flood_is_hung_up_on(emulator_factory, monkeypatch):
    """A complete answer hands its connection back to the pool: the host's next probe reuses it
    (no new TCP, proxy CONNECT and TLS handshake); a 1 GiB answer's connection is closed instead."""
    emulator = emulator_factory(_scenario({"orders.fabrikam.com": {"behaviour": "ok"},
                                           "flood.fabrikam.com": {"behaviour": "flood"}}))
    handler, template = _handler("https://orders.fabrikam.com/api/{event}")
    flood, flood_template = _handler("https://flood.fabrikam.com/api/{event}")
    opened: list[str] = []  # each connect() of the probe's connection class: TCP, proxy CONNECT and TLS
    connect = probe_http.GuardedHTTPSConnection.connect

    def counted(self):  # noqa: ANN001, ANN202
        opened.append(getattr(self, "_tunnel_host", None) or self.host)  # through the proxy: the tunnel's target
        return connect(self)

    monkeypatch.setattr(probe_http.GuardedHTTPSConnection, "connect", counted)
    with handlers.new_session(2) as session:
        for _ in range(3):
            assert handlers.probe(handler, template, "probe-me.webpubsub.azure.com", 5, session).ok
            assert handlers.probe(flood, flood_template, "probe-me.webpubsub.azure.com", 20, session).ok
    assert opened.count("orders.fabrikam.com") == 1
    assert opened.count("flood.fabrikam.com") == 3
    assert [e.host for e in emulator.journal if e.service == "customer"].count("orders.fabrikam.com") == 3


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_OPTIONS(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("WebHook-Allowed-Origin", "*")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_name_repointed_after_the_check_is_refused_at_connect(monkeypatch):
    """DNS rebinding: the first lookup says a public address, the next says loopback. A direct
    connection resolves and checks again in one step, so the loopback server hears nothing."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    answers = iter(["198.51.100.7", "127.0.0.1", "127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):  # noqa: ANN001, ANN202
        if host != "rebind.fabrikam.com":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = server.server_address[1]
    handler, template = _handler(f"http://rebind.fabrikam.com:{port}/api/{{event}}")
    try:
        with handlers.new_session(2) as session:
            result = handlers.probe(handler, template, "h", 2, session)
        assert result.cause == "blocked", result
        assert result.detail == "rebind.fabrikam.com resolves to a loopback address (127.0.0.1)"
        assert _Counting.hits == []
    finally:
        server.shutdown()


def test_child_processes_resolve_scenario_hosts(emulator_factory):
    emulator = emulator_factory(_scenario({"orders.fabrikam.com": {}, "loop.fabrikam.com": {"addresses": ["127.0.0.1"]},
                                           "gone.fabrikam.com": {"behaviour": "dns"}}), apply_env=False)
    code = ("import socket\n"
            "print(socket.getaddrinfo('orders.fabrikam.com', 443)[0][4][0], socket.getaddrinfo('LOOP.fabrikam.com.', 443)[0][4][0])\n"
            "try:\n    socket.getaddrinfo('gone.fabrikam.com', 443)\nexcept socket.gaierror:\n    print('gone')\n")
    out = subprocess.run([sys.executable, "-c", code], env=child_env(emulator), capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["198.51.100.10", "127.0.0.1", "gone"], out.stderr


def test_collection_waits_on_probes_no_longer_than_the_sweep_deadline(emulator_factory, monkeypatch):
    """Four trickling handlers on one host, probed one at a time with a 5 s deadline each: 20 s
    without a budget. With 3 s left of the sweep, the first is cut when it runs out and the rest
    are deferred (a blind spot, not a failure)."""
    from watchdog import sweep
    from watchdog.azure import AzureClients

    hubs = {f"drip{i}": f"https://drip.fabrikam.com/api/{i}/{{event}}" for i in range(4)}
    scenario = _scenario({"drip.fabrikam.com": {"behaviour": "trickle"}})
    scenario["subscriptions"][0]["resource_groups"][0]["webpubsub"][0]["hubs"] = [
        {"name": hub, "event_handlers": [{"url_template": url}]} for hub, url in hubs.items()]
    emulator = emulator_factory(scenario)
    settings = settings_for(emulator, monkeypatch, WATCHDOG_PROBE_TIMEOUT_SECONDS="5", WATCHDOG_PROBE_PER_HOST="1")
    clients = AzureClients(settings)
    started: list[float] = []

    class ThreeSecondsLeft(handlers.HostGate):
        """Made when probes are submitted (the hubs read): the sweep has 3 s left from then on."""

        def __init__(self, per_host: int) -> None:
            super().__init__(per_host)
            started.append(time.monotonic())
            clients.deadline = clients.limiter.now() + 3

    monkeypatch.setattr(handlers, "HostGate", ThreeSecondsLeft)
    try:
        observed = sweep.observe(settings, clients=clients)
        took = time.monotonic() - started[0]
    finally:
        clients.close()
    probes = observed.observations[0].probes
    deferred = [e for e in observed.errors + list(observed.observations[0].errors) if e.source == "handlers"]
    assert took < 5
    assert [p.cause for p in probes] == ["timeout"] * len(probes) and 1 <= len(probes) < 4
    assert len(deferred) == 4 - len(probes) and all("sweep deadline" in e.message for e in deferred)
    assert len(emulator.deliveries("drip.fabrikam.com")) == len(probes)  # deferred ones sent nothing
