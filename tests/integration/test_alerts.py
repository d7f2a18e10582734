"""posture/no-alerts and the alerts remediation through the real SDK against the emulator: one
metricAlerts list per subscription, rules in scope by resource, group or subscription, and the two
baseline rules created (PUT), verified by a fresh list and silent on the next sweep."""
from __future__ import annotations

import pytest

from watchdog.ledger.sqlite import SqliteLedger
from watchdog.models import OutcomeStatus
from watchdog.sweep import Caches, run_sweep

from .sweep_helpers import settings_for

pytestmark = pytest.mark.integration
SUB = "00000000-0000-0000-0000-0000000000a2"
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg"
WPS = f"{GROUP}/providers/Microsoft.SignalRService/WebPubSub/wps"
ACTION_GROUP = f"{GROUP}/providers/microsoft.insights/actionGroups/oncall"
QUOTA = {"name": "quota", "metric": "ConnectionQuotaUtilization", "threshold": 80}
LOAD = {"name": "load", "metric": "ServerLoad", "threshold": 70, "aggregation": "Average"}


def scenario(alerts: list[dict]) -> dict:
    return {"name": "alerts", "subscriptions": [{"id": SUB, "resource_groups": [
        {"name": "rg", "metric_alerts": alerts, "workspaces": [{"name": "law"}], "webpubsub": [{
            "name": "wps", "sku": "Standard_S1", "units": 2, "disable_local_auth": True,
            "tags": {"environment": "dev", "team": "t", "cost-center": "c"}, "diagnostics": [{"workspace": "law"}],
            "metrics": {"TotalConnectionCount": 0, "ConnectionQuotaUtilization": 0, "ServerLoad": 1}}]},
        {"name": "rg-other", "metric_alerts": [{**QUOTA, "name": "elsewhere"}, {**LOAD, "name": "elsewhere-load"}]},
    ]}]}


def no_alerts(report) -> list:
    return [f.evidence["missing"] for f in report.findings if f.check == "no-alerts"]


@pytest.mark.parametrize("alerts, missing", [
    ([QUOTA, LOAD], []),  # group scope (the default)
    ([{**QUOTA, "scopes": [WPS]}, {**LOAD, "scopes": [f"/subscriptions/{SUB}"]}], []),  # resource, subscription
    ([], [["connections", "server-load"]]),  # the other group's rules do not cover it
    ([QUOTA], [["server-load"]]),
    ([{**QUOTA, "threshold": 95}, LOAD], [["connections"]]),  # fires too late
    ([{**QUOTA, "enabled": False}, LOAD], [["connections"]]),
    ([{**QUOTA, "metric": "TotalConnectionCount", "threshold": 1600}, LOAD], []),  # 80% of 2 units' 2,000
    ([{**QUOTA, "metric": "TotalConnectionCount", "threshold": 1900}, LOAD], [["connections"]]),
])
def test_no_alerts_judges_the_rules_in_scope(emulator_factory, monkeypatch, alerts, missing):
    emu = emulator_factory(scenario(alerts))
    report = run_sweep(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB))
    assert report.errors == [] and no_alerts(report) == missing
    assert sum(1 for e in emu.journal if e.op == "arm.metricAlertsBySubscription") == 1


def test_the_alerts_remediation_creates_both_rules_and_the_next_sweep_is_silent(emulator_factory, monkeypatch,
                                                                                 tmp_path):
    emu = emulator_factory(scenario([]))
    settings = settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB, WATCHDOG_ALERTS="on",
                            WATCHDOG_ALERTS_ACTION_GROUP=ACTION_GROUP)
    with SqliteLedger(tmp_path / "l.sqlite3") as ledger:
        plan = run_sweep(settings, mode=settings.modes("plan"), ledger=ledger, caches=Caches())
        assert [(o.action.kind, o.status) for o in plan.outcomes] == [("alerts", OutcomeStatus.PLANNED)]
        assert not [e for e in emu.journal if e.method == "PUT"]  # a dry run writes nothing
        done = run_sweep(settings, mode=settings.modes(), ledger=ledger, caches=Caches())
        [outcome] = done.outcomes
        assert (outcome.status, outcome.verified) == (OutcomeStatus.DONE, True)
        # The audit trail: the intent recorded before acting, overwritten by the verified result.
        assert [(a.kind, a.status, a.verified) for a in ledger.actions()] == [("alerts", "done", True)]
        after = run_sweep(settings, mode=settings.modes(), ledger=ledger, caches=Caches())
    assert no_alerts(after) == [] and after.outcomes == []
    created = {b["name"]: b for rid, b in emu.world.metric_alerts.items() if rid.startswith(GROUP.lower() + "/")}
    assert set(created) == {"wps-ConnectionQuotaUtilization", "wps-ServerLoad"}
    quota = created["wps-ConnectionQuotaUtilization"]["properties"]
    assert quota["scopes"] == [WPS] and quota["actions"][0]["actionGroupId"] == ACTION_GROUP
    assert (quota["severity"], quota["evaluationFrequency"], quota["windowSize"]) == (2, "PT1M", "PT5M")
    [criterion] = quota["criteria"]["allOf"]
    assert (criterion["operator"], criterion["threshold"], criterion["timeAggregation"]) == (
        "GreaterThanOrEqual", 80.0, "Maximum")


def test_without_an_action_group_the_remediation_is_skipped_by_its_guard(emulator_factory, monkeypatch, tmp_path):
    emu = emulator_factory(scenario([]))
    settings = settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB, WATCHDOG_ALERTS="on")
    with SqliteLedger(tmp_path / "l.sqlite3") as ledger:
        report = run_sweep(settings, mode=settings.modes(), ledger=ledger, caches=Caches())
    assert [(o.status, o.guard) for o in report.outcomes] == [(OutcomeStatus.SKIPPED, "no-action-group")]
    assert not [e for e in emu.journal if e.method == "PUT"]


def test_a_forbidden_list_is_a_blind_spot_naming_the_right(emulator_factory, monkeypatch):
    data = scenario([])
    data["denials"] = [{"service": "arm", "scope": f"/subscriptions/{SUB}", "action": "Microsoft.Insights/MetricAlerts/Read"}]
    emu = emulator_factory(data)
    report = run_sweep(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB))
    assert no_alerts(report) == []  # unknown: nothing said about alerts...
    [blind] = [f for f in report.findings if f.check == "alerts-forbidden"]
    assert "MetricAlerts/Read" in blind.guidance  # ...and the blind spot says which right is missing
