"""Event-handler probes run on their own pool and connection pool, politely per host."""
from __future__ import annotations

import threading
import time

import pytest

from watchdog.collect import handlers

from .sweep_helpers import observe_by_name, settings_for

pytestmark = pytest.mark.integration
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"


def _scenario(hubs: int) -> dict:
    return {
        "name": "probes", "subscriptions": [{"id": SUB, "resource_groups": [{
            "name": "rg", "location": "eastus", "webpubsub": [{
                "name": f"wps-{i}", "sku": "Standard_S1",
                "hubs": [{"name": f"hub{j}", "event_handlers": [
                    {"url_template": f"https://shared.example.com/api/{i}/{{hub}}/{{event}}"}]} for j in range(hubs)]}
                for i in range(4)]}]}],
        "hosts": {"shared.example.com": {"behaviour": "ok"}},
    }


def test_probes_use_their_own_threads_and_session_and_respect_the_per_host_limit(emulator_factory, monkeypatch):
    emulator = emulator_factory(_scenario(hubs=3))
    settings = settings_for(emulator, monkeypatch, WATCHDOG_CONCURRENCY="2", WATCHDOG_PROBE_CONCURRENCY="8",
                            WATCHDOG_PROBE_PER_HOST="2")
    lock = threading.Lock()
    in_flight, most, threads, sessions = [0], [0], set(), set()
    real_probe = handlers.probe

    def watched(handler, template, resource_host, timeout, session, budget=None):  # noqa: ANN001, ANN202
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            threads.add(threading.current_thread().name)
            sessions.add(id(session))
        try:
            time.sleep(0.05)  # long enough for the pool's other threads to try the same host
            return real_probe(handler, template, resource_host, timeout, session, budget)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(handlers, "probe", watched)
    obs, _ = observe_by_name(settings)

    assert sum(len(o.probes) for o in obs.values()) == 12
    assert all(p.ok for o in obs.values() for p in o.probes)
    assert threads and all(name.startswith("watchdog-probe") for name in threads), threads
    assert len(sessions) == 1
    assert most[0] == 2  # the pool has 8 threads; the host's limit holds them to 2
    assert len(emulator.deliveries("shared.example.com")) == 12


def test_host_gate_is_per_host_and_case_insensitive():
    gate = handlers.HostGate(1)
    assert gate("A.example.com") is gate("a.example.com")
    assert gate("a.example.com") is not gate("b.example.com")
