"""Batch metrics: grouped by subscription and region, at most 50 ids per call, 2 calls a batch."""
from __future__ import annotations

from collections import Counter

import pytest

from watchdog.azure import AzureClients
from watchdog.sweep import run_sweep

from .sweep_helpers import observe_by_name, settings_for

pytestmark = pytest.mark.integration
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"


def _estate(east: int, west: int) -> dict:
    def resources(prefix: str, n: int) -> list[dict]:
        return [{"name": f"{prefix}-{i:03d}", "sku": "Standard_S1", "units": 1,
                 "metrics": {"TotalConnectionCount": 100 + i, "ConnectionQuotaUtilization": 10,
                             "ServerLoad": 5, "OutboundTraffic": 1000, "ConnectionCloseCount/Normal": 1}}
                for i in range(n)]
    return {"name": "metrics-batching", "subscriptions": [{"id": SUB, "resource_groups": [
        {"name": "rg-east", "location": "eastus", "webpubsub": resources("east", east)},
        {"name": "rg-west", "location": "westeurope", "webpubsub": resources("west", west)}]}]}


def test_batches_of_at_most_50_per_region_and_results_mapped_back(emulator_factory, monkeypatch):
    emulator = emulator_factory(_estate(east=120, west=7))
    settings = settings_for(emulator, monkeypatch)
    obs, errors = observe_by_name(settings)

    batch_calls = emulator.journal.where(op="metrics.getBatch")
    assert all(c.status == 200 for c in batch_calls)  # the emulator refuses > 50 ids with 400
    per_region = Counter(c.host.split(".", 1)[0] for c in batch_calls)
    assert per_region == {"eastus": 3 * 2, "westeurope": 1 * 2}  # ceil(120/50) batches x 2 metric sets
    assert errors == [] and len(obs) == 127
    for name, o in obs.items():
        i = int(name.rsplit("-", 1)[1])
        peak = max(p.value for p in o.metrics.series["TotalConnectionCount:Maximum"] if p.value is not None)
        assert peak == 100 + i, name
        assert o.metrics.close_counts == {"Normal": settings.window_minutes}


def test_throttled_batch_calls_are_retried_after_retry_after(emulator_factory, monkeypatch):
    scenario = _estate(east=3, west=0)
    scenario["faults"] = {"metrics": {"throttle_every": 2, "retry_after": 0}}
    emulator = emulator_factory(scenario)
    settings = settings_for(emulator, monkeypatch)
    clients = AzureClients(settings)
    try:
        report = run_sweep(settings, clients=clients)
    finally:
        clients.close()
    assert report.throttled.get("metrics", 0) >= 1
    assert [e for e in report.errors if e.source == "metrics"] == []
    assert Counter(c.status for c in emulator.journal.where(op="metrics.getBatch"))[529] == report.throttled["metrics"]
