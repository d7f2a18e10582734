import json
from dataclasses import replace

import pytest

from tests.factories import NOW, SETTINGS, keys, metrics, observation, resource, secret
from watchdog import checks, connstr
from watchdog.checks import registry
from watchdog.models import DataPlaneProof, HandlerLogError, HandlerProbe, ObservationError, Severity
from watchdog.models_resource import Diagnostics, EventHandler

PLANTED = "PLANTEDk3yZZ0123456789abcdefghijklmnopqrstuv"


def test_sorted_by_severity_then_resource_then_rule():
    a = observation(resource(name="a-wps", disable_local_auth=False), keys=keys(),
                    secrets=(secret("fp-old", host="a-wps.webpubsub.azure.com", proof=None),),
                    metrics=metrics({"TotalConnectionCount:Maximum": [850] * 5}))
    b = observation(resource(name="b-wps", disable_local_auth=True),
                    metrics=metrics({"TotalConnectionCount:Maximum": [950] * 5}))
    findings = checks.diagnose([b, a], [], SETTINGS, NOW)
    assert [(f.severity, f.resource_id.rsplit("/", 1)[-1], f.rule, f.check) for f in findings] == [
        (Severity.CRITICAL, "a-wps", "key-drift", "stale-key"),
        (Severity.CRITICAL, "b-wps", "capacity", "utilisation"),
        (Severity.WARNING, "a-wps", "capacity", "utilisation"),
        (Severity.INFO, "a-wps", "posture", "local-auth"),
    ]


def test_errors_from_both_places_become_blind_spots_once():
    err = ObservationError("keys", "forbidden", "403", resource().id, status=403)
    obs = observation(resource(disable_local_auth=True), errors=(err,),
                      metrics=metrics({"TotalConnectionCount:Maximum": [1]}))
    findings = checks.diagnose([obs], [err, ObservationError("inventory", "throttled", "429", None, subject="sub")],
                               SETTINGS, NOW)
    assert sorted(f.check for f in findings) == ["inventory-throttled", "keys-forbidden"]


def test_a_crashing_rule_becomes_a_finding_not_a_crash(monkeypatch):
    def boom(obs, settings, now):
        raise ZeroDivisionError(PLANTED)

    monkeypatch.setitem(registry._RULES, "capacity", replace(registry.rule("capacity"), evaluate=boom))
    findings = checks.diagnose([observation(resource(disable_local_auth=True))], [], SETTINGS, NOW)
    [f] = findings
    assert (f.rule, f.check, f.subject) == ("blind-spot", "rule-error", "capacity")
    assert PLANTED not in f.summary


def test_no_observations_no_findings():
    assert checks.diagnose([], [], SETTINGS, NOW) == []


def _leaky_world():
    """Every place a key, connection string or query string could ride in from outside."""
    cs = f"Endpoint=https://wps-prod.webpubsub.azure.com;AccessKey={PLANTED};Version=1.0;"
    try:
        connstr.parse(cs.replace("Endpoint=https://", "Endpoint="))
    except ValueError as exc:
        parse_error = str(exc)
    handler = EventHandler("chat", "https://api.contoso.com/h", "api.contoso.com")
    obs = observation(
        resource(disable_local_auth=False), keys=keys(),
        secrets=(
            secret("fp-old", proof=DataPlaneProof(401, "rejected", f"401 for {cs}")),
            secret(None, None, parse_error=parse_error, proof=None),
        ),
        metrics=metrics({"TotalConnectionCount:Maximum": [990] * 5}, closes={"SendEventFailed": 2}),
        diagnostics=Diagnostics((), ()),
        log_errors=(HandlerLogError("chat", "connect", "401", "HttpHandlerUnexpectedResponse", 3,
                                    sample=f"call to 'https://api.contoso.com/h?code={PLANTED}' got 401"),),
        probes=(HandlerProbe(handler, False, "status", 500, detail=f"GET https://api.contoso.com/h?code={PLANTED}&x=1"),),
        errors=(ObservationError("secrets", "error", f"failed: SharedAccessKey={PLANTED}; sig={PLANTED}",
                                 resource().id),
                ObservationError("dataplane", "error", f"Authorization: Bearer {PLANTED}", resource().id)),
    )
    return obs


def test_no_finding_ever_contains_a_planted_key():
    findings = checks.diagnose([_leaky_world()], [], SETTINGS, NOW)
    assert len(findings) >= 8  # the world above really produced findings from every rule
    assert {f.rule for f in findings} == {"key-drift", "capacity", "upstream", "posture", "blind-spot"}
    for f in findings:
        text = json.dumps([f.summary, f.subject, f.guidance, dict(f.evidence)], default=str)
        assert PLANTED not in text, f"{f.rule}/{f.check} leaks the key"


@pytest.mark.parametrize(
    "text, kept",
    [
        (f"https://h/p?code={PLANTED}", "https://h/p?<redacted>"),
        (f"AccessKey={PLANTED};Version=1.0", "AccessKey=<redacted>;Version=1.0"),
        (f"Bearer {PLANTED}", "Bearer <redacted>"),
        ("plain text with numbers 42", "plain text with numbers 42"),
    ],
)
def test_scrub(text, kept):
    from watchdog.redact import scrub
    assert scrub(text) == kept
