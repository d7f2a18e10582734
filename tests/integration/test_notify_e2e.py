"""Notifications end to end: real HTTPS through the emulator to its Teams and webhook hosts, state
in a real ledger. Checked from what the hosts received: exactly the expected messages, nothing
lost or duplicated while a target fails, and no secret in any payload or log line."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from tests.factories import ManualClock
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.models import Action, Finding, Outcome, Report, Severity
from watchdog.models_resource import Resource
from watchdog.notify import notify
from watchdog.notify.targets import load_notify_config

pytestmark = pytest.mark.integration

SUB = "00000000-0000-0000-0000-0000000000e2"
TEAMS = "prod-27.westeurope.logic.azure.com"
HOOK = "hooks.contoso.com"
SIG = "c2lnLXF1ZXJ5LWNhbmFyeS0xMjM0NTY"
CANARY_KEY = "Q0FOQVJZLWFjY2Vzcy1rZXktZG8tbm90LWxlYWs="
SECRET = "webhook-shared-secret-0123456789"
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "webhook-schema.json").read_text())

SCENARIO = {
    "name": "notify-e2e",
    "subscriptions": [{"id": SUB}],
    "hosts": {TEAMS: {"kind": "teams"}, HOOK: {"kind": "webhook", "behaviour": "status", "status": 503}},
}
ENV = {
    "WATCHDOG_NOTIFY_TARGETS": "ops,platform",
    "WATCHDOG_NOTIFY_DEFAULT": "ops",
    "WATCHDOG_NOTIFY_OPS_URL": f"https://{TEAMS}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig={SIG}",
    "WATCHDOG_NOTIFY_OPS_KIND": "teams",
    "WATCHDOG_NOTIFY_PLATFORM_URL": f"https://{HOOK}/watchdog",
    "WATCHDOG_NOTIFY_PLATFORM_KIND": "webhook",
    "WATCHDOG_NOTIFY_PLATFORM_SECRET": SECRET,
    "WATCHDOG_NOTIFY_DEADLINE_SECONDS": "5",
}
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def resource(name: str, tags: dict[str, str]) -> Resource:
    rid = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/{name}"
    return Resource(rid, SUB, "rg", name, "westeurope", f"{name}.webpubsub.azure.com", "Standard_S1", "Standard", 1,
                    tags=tags)


CHAT = resource("chat", {"watchdog-notify": "platform"})  # platform hears about chat only
GAME = resource("game", {})
DRIFT = Finding("key-drift", "stale-key", Severity.CRITICAL, CHAT.id, "https://kv.vault.azure.net/secrets/chat",
                "Key Vault secret holds a regenerated key", {"secret_key_fp": "ab12", "note": f"AccessKey={CANARY_KEY}"},
                "Run secret sync or update the secret.")
CAP = Finding("capacity", "near-cap", Severity.WARNING, GAME.id, "connections", "92% of the connection cap",
              {"peak": 920, "cap": 1000}, "Scale out to 2 units.")
FIX_CAP = Outcome(Action("scale", GAME.id, "capacity", "near cap", {"from": 1, "to": 2}, CAP.fingerprint), "done",
                  verified=True, proof="SKU re-read: 2 units", at=T0)




@dataclass
class Harness:
    emulator: object
    ledger: SqliteLedger
    summaries: list[list[dict]] = field(default_factory=list)

    def sweep(self, at: datetime, findings: list[Finding], outcomes: list[Outcome] = ()) -> list[dict]:
        report = Report(started_at=at, subscriptions=(SUB,), resources=[CHAT, GAME], findings=findings,
                        outcomes=list(outcomes))
        clock = ManualClock()
        summary = notify(report, self.ledger, load_notify_config(ENV), at, clock=clock, sleep=clock.sleep)
        self.summaries.append(summary)
        return summary

    def accepted(self, host: str) -> list[dict]:
        return [d.json() for d in self.emulator.deliveries(host) if 200 <= d.status < 300]


@pytest.fixture
def harness(emulator_factory, tmp_path):
    emu = emulator_factory(SCENARIO)
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    yield Harness(emu, ledger)
    ledger.close()


def teams_groups(payload: dict) -> dict[str, int]:
    card = payload["attachments"][0]["content"]
    headline = card["body"][0]["text"]
    parts = headline.split(": ", 1)[1].split(", ")
    return {p.split(" ", 1)[1]: int(p.split(" ", 1)[0]) for p in parts}


def hook_alerts(payload: dict) -> list[tuple[str, str, str]]:
    return [(a["data"]["alertContext"]["notification"], a["data"]["essentials"]["alertRule"],
             a["data"]["essentials"]["monitorCondition"]) for a in payload["alerts"]]


def test_rounds_deliver_exactly_the_expected_messages(harness, caplog):
    caplog.set_level(logging.DEBUG)
    h = harness
    hook = h.emulator.world.hosts[HOOK]

    # 1: two problems appear; platform's endpoint is down.
    h.sweep(T0, [DRIFT, CAP])
    # 2: the watchdog scaled game out (fixed, verified); platform still down.
    h.sweep(T0 + timedelta(minutes=5), [DRIFT, CAP], [FIX_CAP])
    # 3: platform recovers; drift persists.
    with h.emulator.world.lock:
        hook.behaviour = "ok"
    h.sweep(T0 + timedelta(minutes=10), [DRIFT])
    # 4: quiet sweep: nothing is due anywhere.
    h.sweep(T0 + timedelta(minutes=15), [DRIFT])
    # 5: drift persisted past the 4-hour repeat interval for both targets.
    h.sweep(T0 + timedelta(hours=4, minutes=10), [DRIFT])
    # 6: drift resolved.
    h.sweep(T0 + timedelta(hours=4, minutes=15), [])
    # 7: nothing left to say.
    h.sweep(T0 + timedelta(hours=4, minutes=20), [])

    teams = h.accepted(TEAMS)
    assert [teams_groups(p) for p in teams] == [
        {"new": 2},
        {"fixed by the watchdog": 1},
        {"still firing": 1},
        {"resolved": 1},
    ]
    assert all(d.status == 202 for d in h.emulator.deliveries(TEAMS))
    assert "SKU re-read: 2 units" in json.dumps(teams[1])

    hooks = h.accepted(HOOK)
    assert [hook_alerts(p) for p in hooks] == [
        [("firing", "key-drift/stale-key", "Fired")],  # the round-1 message, not lost
        [("reminder", "key-drift/stale-key", "Fired")],
        [("resolved", "key-drift/stale-key", "Resolved")],
    ]
    for p in hooks:
        jsonschema.validate(p, SCHEMA)
    assert len({p["deliveryId"] for p in hooks}) == 3

    # Per round: the status each target ended with.
    statuses = [{s["target"]: s["status"] for s in summary} for summary in h.summaries]
    assert statuses == [
        {"ops": "delivered", "platform": "retryable"},
        {"ops": "delivered", "platform": "retryable"},
        {"platform": "delivered"},
        {},
        {"ops": "delivered", "platform": "delivered"},
        {"ops": "delivered", "platform": "delivered"},
        {},
    ]


def test_retries_are_signed_idempotent_and_leak_nothing(harness, caplog):
    caplog.set_level(logging.DEBUG)
    h = harness
    h.sweep(T0, [DRIFT])
    failed = h.emulator.deliveries(HOOK)
    assert len(failed) > 1 and {d.status for d in failed} == {503}  # retried within the deadline
    ids = {d.headers["X-Watchdog-Delivery"] for d in failed}
    assert len(ids) == 1 and {d.json()["deliveryId"] for d in failed} == ids  # one id across retries
    for d in failed:
        expected = "sha256=" + hmac.new(SECRET.encode(), d.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(d.headers["X-Watchdog-Signature"], expected)

    everything = [d for host in (TEAMS, HOOK) for d in h.emulator.deliveries(host)]
    for d in everything:
        sent = d.body.decode() + json.dumps(d.headers)
        assert CANARY_KEY not in sent and SIG not in sent and SECRET not in sent
    logged = caplog.text + json.dumps(h.summaries)
    assert SIG not in logged and CANARY_KEY not in logged and SECRET not in logged
