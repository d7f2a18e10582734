import pytest

from tests.factories import NOW, SETTINGS, observation, resource
from watchdog.checks import posture
from watchdog.models import Diagnostics, Severity

LOGS = Diagnostics(("/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws",),
                   ("ConnectivityLogs", "MessagingLogs"))


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
