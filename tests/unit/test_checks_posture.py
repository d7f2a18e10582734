from dataclasses import replace

import pytest

from tests.factories import NOW, SETTINGS, SUB, observation, resource
from watchdog.checks import posture
from watchdog.models import Severity
from watchdog.models_resource import Diagnostics

TAGGED = {"environment": "prod", "team": "chat", "cost-center": "cc-1"}

LOGS = Diagnostics(("/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws",),
                   ("ConnectivityLogs", "MessagingLogs", "HttpRequestLogs"))


@pytest.mark.parametrize(
    "diagnostics, local_auth_disabled, autoscale, expected",
    [
        (LOGS, True, None, []),
        (LOGS, True, (), []),
        (None, True, None, []),  # unknown: the failed read is a blind-spot, not a posture finding
        (Diagnostics((), ()), True, None, [("no-workspace", Severity.WARNING)]),
        (Diagnostics(("/ws",), ()), True, None, [("no-workspace", Severity.WARNING)]),
        (LOGS, False, None, [("local-auth", Severity.INFO)]),
        (LOGS, True, ("scale-wps",), [("autoscale", Severity.INFO)]),
        (Diagnostics((), ()), False, ("a", "b"),
         [("no-workspace", Severity.WARNING), ("local-auth", Severity.INFO), ("autoscale", Severity.INFO)]),
    ],
)
def test_posture(diagnostics, local_auth_disabled, autoscale, expected):
    obs = observation(resource(disable_local_auth=local_auth_disabled), autoscale=autoscale)
    obs = type(obs)(**{**obs.__dict__, "diagnostics": diagnostics})
    findings = posture.check(obs, SETTINGS, NOW)
    assert [(f.check, f.severity) for f in findings] == expected


def test_autoscale_finding_says_the_watchdog_will_not_scale():
    [f] = posture.check(observation(resource(disable_local_auth=True), autoscale=("scale-wps",)), SETTINGS, NOW)
    assert "will not scale" in f.summary and f.evidence["autoscale_settings"] == ["scale-wps"]


ALL3 = ("ConnectivityLogs", "MessagingLogs", "HttpRequestLogs")


@pytest.mark.parametrize(
    "diagnostics, expected",
    [
        (Diagnostics(("/ws",), ALL3), []),
        (Diagnostics(("/ws",), ("allLogs",)), []),  # the category group covers them all
        (Diagnostics(("/ws",), ("connectivitylogs", "messaginglogs", "httprequestlogs")), []),  # case-blind
        (Diagnostics(("/ws",), ("ConnectivityLogs", "MessagingLogs")), [["HttpRequestLogs"]]),
        (Diagnostics(("/ws",), ("HttpRequestLogs",)), [["ConnectivityLogs", "MessagingLogs"]]),
        (Diagnostics((), ()), []),  # nothing sent: no-workspace says it, not this
        (None, []),
    ],
)
def test_diagnostic_categories(diagnostics, expected):
    obs = observation(resource(disable_local_auth=True), diagnostics=diagnostics)
    found = [f for f in posture.check(obs, SETTINGS, NOW) if f.check == "diagnostic-categories"]
    assert [f.evidence["off"] for f in found] == expected
    assert all(f.severity is Severity.WARNING for f in found)


@pytest.mark.parametrize(
    "stopped, expected",
    [(True, [("resource-stopped", Severity.CRITICAL)]), (False, []), (None, [])],  # None: the body did not say
)
def test_resource_stopped(stopped, expected):
    obs = observation(resource(disable_local_auth=True, resource_stopped=stopped))
    assert [(f.check, f.severity) for f in posture.check(obs, SETTINGS, NOW)] == expected


@pytest.mark.parametrize(
    "tags, required, missing",
    [
        (TAGGED, ("environment", "team", "cost-center"), None),
        ({"Environment": "prod", "TEAM": "x", "Cost-Center": "y"}, ("environment", "team", "cost-center"), None),
        ({"env": "prod"}, ("environment", "team", "cost-center"), ["environment", "team", "cost-center"]),
        ({"environment": "prod"}, ("environment", "team", "cost-center"), ["team", "cost-center"]),
        ({}, (), None),  # WATCHDOG_REQUIRED_TAGS empty: nothing required
    ],
)
def test_missing_tags(tags, required, missing):
    obs = observation(resource(disable_local_auth=True, tags=tags))
    found = [f for f in posture.check(obs, replace(SETTINGS, required_tags=required), NOW)]
    assert [f.evidence["missing"] for f in found if f.check == "missing-tags"] == ([missing] if missing else [])
    assert all(f.severity is Severity.INFO for f in found)


@pytest.mark.parametrize(
    "sku, tags, fires",
    [
        ("Free_F1", {"environment": "production"}, True),
        ("Free_F1", {"Env": "PROD"}, True),
        ("Free_F1", {"environment": "dev"}, False),
        ("Free_F1", {}, False),  # no environment tag: nothing says production
        ("Standard_S1", {"environment": "prod"}, False),
        ("Free_F1", {"environment": "preprod"}, False),
    ],
)
def test_free_in_production(sku, tags, fires):
    obs = observation(resource(sku=sku, disable_local_auth=True, tags=tags))
    found = [f for f in posture.check(obs, SETTINGS, NOW) if f.check == "free-in-production"]
    assert [f.severity for f in found] == ([Severity.WARNING] if fires else [])


def test_default_required_tags_are_the_documented_ones():
    from watchdog.settings import Settings

    assert Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB}).required_tags == (
        "environment", "team", "cost-center")
    assert Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB,
                              "WATCHDOG_REQUIRED_TAGS": " owner , ,app "}).required_tags == ("owner", "app")
