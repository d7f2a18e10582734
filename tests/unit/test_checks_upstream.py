from datetime import timedelta

import pytest

from tests.factories import NOW, SETTINGS, metrics, observation
from watchdog.checks import upstream
from watchdog.models import HandlerLogError, HandlerProbe, Severity
from watchdog.models_resource import EventHandler

HANDLER = EventHandler(hub="chat", url_redacted="https://api.contoso.com/eventhandler", host="api.contoso.com",
                       system_events=("connect",))


def run(**kw):
    return upstream.check(observation(**kw), SETTINGS, NOW)


@pytest.mark.parametrize(
    "closes, expected",
    [
        ({}, []),
        ({"Normal": 100, "Throttled": 5, "SlowClient": 2}, []),
        ({"SendEventFailed": 12}, [("sendeventfailed", 12)]),
        ({"EventHandlerNotFound": 3}, [("eventhandlernotfound", 3)]),
        ({"SendEventFailed": 1, "EventHandlerNotFound": 2}, [("sendeventfailed", 1), ("eventhandlernotfound", 2)]),
        ({"SendEventFailed": 0}, []),
    ],
)
def test_upstream_close_categories(closes, expected):
    findings = run(metrics=metrics(closes=closes))
    assert [(f.check, f.evidence["closes"]) for f in findings] == expected
    assert all(f.severity is Severity.WARNING for f in findings)


def test_no_metrics_and_no_logs_say_nothing():
    assert run(metrics=None, log_errors=None) == []


@pytest.mark.parametrize(
    "event, status, kind, severity, fix",
    [
        ("connect", "404", "HttpHandlerUnexpectedResponse", Severity.CRITICAL, "no route for hub chat"),
        ("message", "500", "HttpHandlerUnexpectedResponse", Severity.WARNING, "answered 500"),
        ("message", "401", "HttpHandlerUnexpectedResponse", Severity.WARNING, "rejects the service's calls"),
        ("validate", "missing allowed origins", "AbuseProtectionResponseMissingAllowedOrigin", Severity.WARNING,
         "WebHook-Allowed-Origin"),
    ],
)
def test_log_errors_grouped_by_hub_event_status(event, status, kind, severity, fix):
    group = HandlerLogError("chat", event, status, kind, count=17, last_seen=NOW - timedelta(minutes=3),
                            sample="hub:chat,event:connect got unexpected response with status code 404.")
    [f] = run(log_errors=(group,))
    assert (f.check, f.severity, f.subject) == ("handler-errors", severity, f"chat/{event}/{status}")
    assert f.evidence["count"] == 17 and f.evidence["last_seen"] == "2026-03-01T11:57:00+00:00"
    assert "17 event handler errors" in f.summary
    assert fix in f.guidance


@pytest.mark.parametrize(
    "cause, status, check, severity, words",
    [
        ("dns", None, "probe-failed", Severity.WARNING, "does not resolve"),
        ("tls", None, "probe-failed", Severity.WARNING, "TLS"),
        ("timeout", None, "probe-failed", Severity.WARNING, "did not answer"),
        ("status", 503, "probe-failed", Severity.WARNING, "(503)"),
        ("missing-allowed-origin", 200, "probe-failed", Severity.WARNING, "WebHook-Allowed-Origin"),
        ("blocked", None, "probe-blocked", Severity.INFO, "not probed"),
        (None, None, "probe-failed", Severity.WARNING, "validation request failed"),
    ],
)
def test_failed_probes_name_their_cause(cause, status, check, severity, words):
    probes = (HandlerProbe(HANDLER, ok=False, cause=cause, status=status), HandlerProbe(HANDLER, ok=True, status=200))
    [f] = run(handlers=(HANDLER,), probes=probes)
    assert (f.check, f.severity) == (check, severity)
    assert words in f.summary
    assert f.evidence["cause"] == (cause or "unknown") and f.evidence["host"] == "api.contoso.com"
    assert f.subject == "chat https://api.contoso.com/eventhandler"
