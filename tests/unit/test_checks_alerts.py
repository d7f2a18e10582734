"""posture/no-alerts and the alert coverage it shares with the alerts remediation."""
from dataclasses import replace

import pytest

from tests.factories import NOW, SETTINGS, observation, resource
from watchdog.checks import alert_coverage, posture
from watchdog.collect.alerts import covers
from watchdog.models import Severity
from watchdog.models_resource import AlertCriterion, MetricAlertRule
from watchdog.remediate.alerts import plan, rule_name
from watchdog.remediate.plan import Plan, ScaleFacts
from watchdog.remediate.registry import PlanContext

NS = "Microsoft.SignalRService/WebPubSub"


def rule(metric, threshold, operator="GreaterThanOrEqual", enabled=True, namespace=NS):
    return MetricAlertRule("/r", "r", enabled, ("/s",), (AlertCriterion(metric, namespace, operator, threshold, "Maximum"),))


QUOTA, LOAD = rule("ConnectionQuotaUtilization", 80), rule("ServerLoad", 70)


@pytest.mark.parametrize("rules, units, missing", [
    ((QUOTA, LOAD), 1, []),
    ((), 1, ["connections", "server-load"]),
    ((QUOTA,), 1, ["server-load"]),
    ((rule("ConnectionQuotaUtilization", 60), rule("ServerLoad", 50, "GreaterThan")), 1, []),  # earlier is fine
    ((rule("ConnectionQuotaUtilization", 81), LOAD), 1, ["connections"]),  # later is not
    ((rule("ConnectionQuotaUtilization", 80, "LessThan"), LOAD), 1, ["connections"]),
    ((rule("ConnectionQuotaUtilization", 80, enabled=False), LOAD), 1, ["connections"]),
    ((rule("ConnectionQuotaUtilization", None), LOAD), 1, ["connections"]),  # dynamic threshold: not counted
    ((rule("ConnectionQuotaUtilization", 80, namespace="Microsoft.SignalRService/SignalR"), LOAD), 1,
     ["connections"]),
    ((rule("TotalConnectionCount", 4000), LOAD), 5, []),  # 80% of 5,000
    ((rule("TotalConnectionCount", 4001), LOAD), 5, ["connections"]),
    ((rule("serverload", 70, namespace=None),), 1, ["connections"]),  # names compared case-blind
])
def test_coverage(rules, units, missing):
    assert [b.key for b in alert_coverage.missing(rules, resource(units=units))] == missing


def test_no_alerts_fires_as_info_with_what_is_missing_and_is_silent_when_unknown():
    res = resource(disable_local_auth=True)
    [f] = posture.check(observation(res, alerts=(QUOTA,)), SETTINGS, NOW)
    assert (f.check, f.severity, f.evidence["missing"]) == ("no-alerts", Severity.INFO, ["server-load"])
    assert posture.check(observation(res, alerts=None), SETTINGS, NOW) == []
    assert posture.check(observation(res, alerts=(QUOTA, LOAD)), SETTINGS, NOW) == []


def test_scopes_that_cover_a_resource():
    res = resource()
    assert covers(res.id.lower(), res) and covers(f"/subscriptions/{res.subscription_id}", res)
    assert covers(f"/subscriptions/{res.subscription_id}/resourcegroups/rg", res)
    assert not covers(f"/subscriptions/{res.subscription_id}/resourcegroups/other", res)
    assert not covers(res.id.lower() + "-2", res)


@pytest.mark.parametrize("group, planned, guard", [
    ("/subscriptions/s/resourceGroups/g/providers/microsoft.insights/actionGroups/oncall", 1, None),
    ("", 0, "no-action-group"),
])
def test_the_plan_needs_an_action_group(group, planned, guard):
    res = resource(disable_local_auth=True)
    obs = observation(res, alerts=(QUOTA,))
    findings = posture.check(obs, SETTINGS, NOW)
    out = Plan()
    plan(obs, findings, PlanContext(replace(SETTINGS, alerts_action_group=group), ScaleFacts(), NOW), out)
    assert len(out.actions) == planned and [o.guard for o in out.skipped] == ([guard] if guard else [])
    action = (out.actions or [o.action for o in out.skipped])[0]
    assert action.params["missing"] == ["server-load"] and action.finding == findings[0].fingerprint


def test_rule_names_follow_the_resource_and_metric():
    assert rule_name(resource(name="chat"), alert_coverage.SERVER_LOAD) == "chat-ServerLoad"


def test_the_action_group_setting_is_validated():
    from watchdog.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match="WATCHDOG_ALERTS_ACTION_GROUP"):
        Settings.from_env({"AZURE_SUBSCRIPTION_ID": SETTINGS.subscriptions[0], "WATCHDOG_ALERTS_ACTION_GROUP": "oncall"})
