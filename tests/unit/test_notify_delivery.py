"""Delivery verdicts, retries and deadlines, and notify()'s bookkeeping, with a scripted session
standing in for the network (end-to-end over HTTPS is tests/integration/test_notify_e2e.py)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from watchdog.ledger.sqlite import SqliteLedger
from tests.factories import ManualClock, finding, resource, resource_id
from watchdog.models import Report, Severity
from watchdog.models_resource import Resource
from watchdog.notify import notify
from watchdog.notify.delivery import post, retry_after
from watchdog.notify.targets import load_notify_config

SIG = "U2lnbmF0dXJlLW5ldmVyLWxvZ2dlZA"
URL = f"https://prod.westeurope.logic.azure.com/workflows/1/invoke?sig={SIG}"
HOOK = "https://hooks.example.com/watchdog"


class Response:
    def __init__(self, status: int, headers: dict[str, str] | None = None, text: str = "") -> None:
        self.status_code, self.headers, self.text = status, headers or {}, text

    def close(self) -> None:
        pass




class Session:
    """Answers each POST from a per-host script; records what was sent."""

    def __init__(self, script: dict[str, list] | None = None) -> None:
        self.script = script or {}
        self.sent: list[tuple[str, dict, dict]] = []

    def post(self, url, data, headers, timeout, allow_redirects):
        assert allow_redirects is False and all(t > 0 for t in timeout)
        host = url.split("/")[2]
        self.sent.append((host, json.loads(data), headers))
        answers = self.script.get(host, [])
        answer = answers.pop(0) if answers else Response(202)
        if isinstance(answer, Exception):
            raise answer
        return answer


def deliver(script: list, deadline: float = 60.0):
    clock = ManualClock()
    session = Session({"prod.westeurope.logic.azure.com": script})
    result = post(URL, b"{}", {}, deadline=deadline, session=session, clock=clock, sleep=clock.sleep)
    assert SIG not in result.detail
    return result, clock, session


def test_accepted():
    result, clock, _ = deliver([Response(202)])
    assert (result.status, result.http_status, result.attempts, clock.sleeps) == ("delivered", 202, 1, [])


def test_5xx_retried_with_exponential_backoff():
    result, clock, _ = deliver([Response(502), Response(503), Response(500), Response(202)])
    assert (result.status, result.attempts, clock.sleeps) == ("delivered", 4, [1.0, 2.0, 4.0])


def test_429_honours_retry_after():
    result, clock, _ = deliver([Response(429, {"Retry-After": "7"}), Response(202)])
    assert (result.status, clock.sleeps) == ("delivered", [7.0])


def test_retry_after_beyond_the_deadline_gives_up_as_retryable():
    result, clock, session = deliver([Response(429, {"Retry-After": "120"})], deadline=30)
    assert (result.status, result.http_status, clock.sleeps) == ("retryable", 429, [])
    assert "deadline" in result.detail


def test_persistent_5xx_stops_at_the_deadline():
    result, clock, _ = deliver([Response(500)] * 100, deadline=20)
    assert result.status == "retryable" and clock.t < 20 and result.attempts == 5  # 1+2+4+8 slept


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 301])
def test_other_answers_are_fatal_and_detail_is_clean(status):
    result, clock, _ = deliver([Response(status, text=f"bad request for {URL}")])
    assert (result.status, result.attempts, clock.sleeps) == ("fatal", 1, [])
    assert f"HTTP {status}" in result.detail and "prod.westeurope.logic.azure.com/workflows/1/invoke" in result.detail


@pytest.mark.parametrize(
    "exc", [requests.ConnectTimeout(f"timed out: {URL}"), requests.ConnectionError(f"Max retries with url: {URL}")]
)
def test_network_errors_are_retryable_and_never_echo_the_url(exc):
    result, _, _ = deliver([exc, exc, Response(202)])
    assert (result.status, result.attempts) == ("delivered", 3)
    result, _, _ = deliver([exc] * 100, deadline=5)
    assert result.status == "retryable" and SIG not in result.detail


def test_refuses_plain_http():
    result = post("http://example.com/x", b"{}", {}, deadline=10, session=Session())
    assert result.status == "fatal" and "non-https" in result.detail


def test_retry_after_parsing():
    now = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
    assert retry_after("5") == 5.0
    assert retry_after("Sun, 01 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after("soon") is None and retry_after(None) is None


# --- notify(): what the ledger records, over several sweeps ----------------------------------

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
RID = resource_id("chat")
CHAT = resource(name="chat", tags={"watchdog-notify": "platform"})
DRIFT = finding("key-drift", "stale-key", Severity.CRITICAL, "chat", subject="https://v.vault.azure.net/secrets/chat",
                summary="stale key")
CAP = finding(name="chat", summary="92% of cap")

CONFIG = load_notify_config({
    "WATCHDOG_NOTIFY_TARGETS": "ops,platform",
    "WATCHDOG_NOTIFY_DEFAULT": "ops",
    "WATCHDOG_NOTIFY_OPS_URL": URL, "WATCHDOG_NOTIFY_OPS_KIND": "teams",
    "WATCHDOG_NOTIFY_PLATFORM_URL": HOOK, "WATCHDOG_NOTIFY_PLATFORM_KIND": "webhook",
    "WATCHDOG_NOTIFY_PLATFORM_MIN_SEVERITY": "critical",
})


@pytest.fixture
def ledger(tmp_path):
    led = SqliteLedger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def sweep(ledger, session, findings, at):
    report = Report(started_at=at, subscriptions=(CHAT.subscription_id,), resources=[CHAT], findings=list(findings))
    clock = ManualClock()
    return notify(report, ledger, CONFIG, at, session=session, clock=clock, sleep=clock.sleep)


def alerts(sent):
    return sorted((a["data"]["alertContext"]["notification"], a["data"]["essentials"]["alertRule"])
                  for a in sent["alerts"])


def test_rounds_route_remind_and_resolve(ledger):
    s = Session()
    summary = sweep(ledger, s, [DRIFT, CAP], T0)
    assert {x["target"]: x["status"] for x in summary} == {"ops": "delivered", "platform": "delivered"}
    hosts = [h for h, _, _ in s.sent]
    assert sorted(hosts) == ["hooks.example.com", "prod.westeurope.logic.azure.com"]
    platform = next(body for h, body, _ in s.sent if h == "hooks.example.com")
    assert alerts(platform) == [("firing", "key-drift/stale-key")]  # warning is below platform's minimum

    s.sent.clear()
    assert sweep(ledger, s, [DRIFT, CAP], T0 + timedelta(minutes=5)) == [] and s.sent == []

    s.sent.clear()
    summary = sweep(ledger, s, [DRIFT, CAP], T0 + timedelta(hours=4, minutes=1))
    assert {x["target"]: x["counts"]["reminder"] for x in summary} == {"ops": 2, "platform": 1}

    s.sent.clear()
    sweep(ledger, s, [CAP], T0 + timedelta(hours=4, minutes=6))
    platform = next(body for h, body, _ in s.sent if h == "hooks.example.com")
    assert alerts(platform) == [("resolved", "key-drift/stale-key")]
    assert ledger.finding_states()[DRIFT.fingerprint].status == "resolved"


def test_failing_target_loses_nothing_and_duplicates_nothing(ledger):
    failing = Session({"hooks.example.com": [Response(503)] * 12})  # down for two sweeps' retries
    first = sweep(ledger, failing, [DRIFT], T0)
    assert {x["target"]: x["status"] for x in first} == {"ops": "delivered", "platform": "retryable"}
    assert ledger.notify_states("platform")[DRIFT.fingerprint].pending

    failing.sent.clear()
    second = sweep(ledger, failing, [DRIFT], T0 + timedelta(minutes=5))
    assert [x["target"] for x in second] == ["platform"]  # ops already has it: not sent again
    assert second[0]["status"] == "retryable"

    failing.script.clear()  # recovered
    failing.sent.clear()
    third = sweep(ledger, failing, [], T0 + timedelta(minutes=10))  # meanwhile it resolved
    by_target = {x["target"]: x for x in third}
    assert by_target["platform"]["status"] == "delivered"
    assert by_target["platform"]["counts"]["resolved"] == 1  # fired-and-resolved, not lost
    assert by_target["ops"]["counts"]["resolved"] == 1
    state = ledger.notify_states("platform")[DRIFT.fingerprint]
    assert (state.pending, state.last_state) == (False, "resolved")

    failing.sent.clear()
    assert sweep(ledger, failing, [], T0 + timedelta(minutes=15)) == [] and failing.sent == []


def test_fatal_answer_stays_pending_and_is_reported(ledger):
    s = Session({"prod.westeurope.logic.azure.com": [Response(404, text="workflow not found")]})
    summary = sweep(ledger, s, [CAP], T0)
    ops = next(x for x in summary if x["target"] == "ops")
    assert ops["status"] == "fatal" and "404" in ops["detail"] and SIG not in json.dumps(summary)
    assert ledger.notify_states("ops")[CAP.fingerprint].pending


def test_unknown_tag_target_is_reported(ledger):
    tagged = Resource(**{**CHAT.__dict__, "tags": {"watchdog-notify": "oncall"}})
    report = Report(started_at=T0, subscriptions=(CHAT.subscription_id,), resources=[tagged], findings=[CAP])
    summary = notify(report, ledger, CONFIG, T0, session=Session())
    assert {"target": "oncall", "status": "unknown-target",
            "detail": "named by a watchdog-notify tag but not in WATCHDOG_NOTIFY_TARGETS"} in summary


def test_retry_after_zero_waits_the_floor_and_attempts_are_bounded():
    result, clock, _ = deliver([Response(503, {"Retry-After": "0"})] * 1000, deadline=3600)
    assert result.status == "retryable" and result.attempts == 5 and "gave up after 5 attempts" in result.detail
    assert clock.sleeps == [1.0] * 4  # never a busy loop


def test_a_huge_retry_after_is_capped_at_the_ceiling():
    result, clock, _ = deliver([Response(429, {"Retry-After": "86400"}), Response(202)], deadline=3600)
    assert (result.status, clock.sleeps) == ("delivered", [30.0])
