"""Replicas through the real SDKs against the emulator: listed per Premium resource (kept by the
process), their metrics read by the batch API in batches of their own type, judged alone and
reported under the parent; a failed list is a blind spot under the parent."""
from __future__ import annotations

import json

import pytest

from watchdog.ledger.sqlite import SqliteLedger
from watchdog.sweep import Caches, run_sweep

from .sweep_helpers import settings_for

pytestmark = pytest.mark.integration
SUB = "00000000-0000-0000-0000-0000000000a4"
WPS = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub"


def scenario(replica: dict, sku: str = "Premium_P1") -> dict:
    return {"name": "replicas", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "westeurope", "webpubsub": [
            {"name": "wps", "sku": sku, "units": 2, "disable_local_auth": True,
             "metrics": {"TotalConnectionCount": 100, "ServerLoad": 5},
             "replicas": [{"name": "wps-eastus", "location": "eastus", **replica}]}]}]}]}


@pytest.mark.parametrize("replica, expected", [
    ({"units": 1, "demand": 300}, []),
    ({"units": 1, "demand": 850}, [("utilisation", "warning")]),
    ({"units": 1, "demand": 1300}, [("throttled", "critical"), ("utilisation", "critical")]),
    ({"units": 2, "metrics": {"TotalConnectionCount": 10, "ServerLoad": 80}}, [("server-load", "warning")]),
])
def test_each_replica_is_judged_on_its_own_metrics(emulator_factory, monkeypatch, replica, expected):
    emu = emulator_factory(scenario(replica))
    report = run_sweep(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB))
    found = [f for f in report.findings if f.rule == "replicas"]
    assert report.errors == [] and sorted((f.check, str(f.severity)) for f in found) == expected
    assert all((f.resource_id, f.subject) == (f"{WPS}/wps", f"{WPS}/wps/replicas/wps-eastus") for f in found)
    # The parent's own numbers are fine: nothing from capacity about it.
    assert not [f for f in report.findings if f.rule == "capacity" and f.check != "no-data"]


def test_replica_metrics_come_in_their_own_batch_and_the_list_is_kept_in_the_ledger(emulator_factory, monkeypatch,
                                                                                     tmp_path):
    emu = emulator_factory(scenario({"units": 1, "demand": 300}))
    settings = settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB)

    def fresh_process() -> object:
        with SqliteLedger(tmp_path / "l.sqlite3") as ledger:
            return run_sweep(settings, ledger=ledger, caches=Caches())

    fresh_process()
    batches = [e for e in emu.journal if e.op == "metrics.getBatch"]
    namespaces = {e.query.split("metricnamespace=")[1].split("&")[0].replace("%2F", "/") for e in batches}
    assert namespaces == {"Microsoft.SignalRService/WebPubSub", "Microsoft.SignalRService/WebPubSub/replicas"}
    assert len(batches) == 4  # two metric sets for the resource, two for its replica (another region anyway)
    second = fresh_process()  # a cold start: replicas come from the ledger, their metrics are read again
    assert sum(1 for e in emu.journal if e.op == "arm.listReplicas") == 1
    assert sum(1 for e in emu.journal if e.op == "metrics.getBatch") == 8
    assert not [f for f in second.findings if f.rule == "replicas"]
    # A write to a replica (below the resource in the activity log) has its list read again; its metrics,
    # read every sweep, now show it near its cap.
    replica = next(iter(emu.world.replicas.values()))
    replica.demand = 950
    emu.world.record_activity(replica.id, "Microsoft.SignalRService/WebPubSub/replicas/write", "admin@contoso.com")
    third = fresh_process()
    assert sum(1 for e in emu.journal if e.op == "arm.listReplicas") == 2
    assert [f.check for f in third.findings if f.rule == "replicas"] == ["utilisation"]


def test_standard_resources_have_no_replicas_list(emulator_factory, monkeypatch):
    data = scenario({"units": 1})
    data["subscriptions"][0]["resource_groups"][0]["webpubsub"][0]["sku"] = "Standard_S1"
    emu = emulator_factory(data)
    run_sweep(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB))
    assert not [e for e in emu.journal if e.op == "arm.listReplicas"]


def test_a_forbidden_replicas_list_is_a_blind_spot_under_the_parent(emulator_factory, monkeypatch):
    data = scenario({"units": 1, "demand": 1300})
    data["denials"] = [{"service": "arm", "scope": f"{WPS}/wps",
                        "action": "Microsoft.SignalRService/WebPubSub/replicas/read"}]
    emu = emulator_factory(data)
    report = run_sweep(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB))
    assert not [f for f in report.findings if f.rule == "replicas"]
    [blind] = [f for f in report.findings if f.check == "replicas-forbidden"]
    assert blind.resource_id == f"{WPS}/wps" and "replicas/read" in blind.guidance
    assert json.dumps(blind.evidence)  # plain data
