"""The issue-11 story, end to end through the real SDKs and the emulator: a sweep notifies its
capacity findings; then the metrics service answers 403; the next sweep must send no
"Resolved" and one message saying the watchdog lost sight of metrics."""
from __future__ import annotations

import json

import pytest

from tests.factories import webhook_target_env
from tests.integration.sweep_helpers import settings_for
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.sweep import run_sweep

pytestmark = pytest.mark.integration

HOOK = "hooks.contoso.com"
ENV = {
    **webhook_target_env(HOOK),
}


def messages(emulator) -> list[dict]:  # noqa: ANN001
    return [json.loads(d.body) for d in emulator.deliveries(HOOK) if d.status and 200 <= d.status < 300]


def alerts(message: dict) -> list[tuple[str, str, str]]:
    return [(a["data"]["alertContext"]["notification"], a["data"]["alertContext"]["rule"],
             a["data"]["alertContext"]["check"]) for a in message["alerts"]]


def test_metrics_403_after_capacity_findings_sends_no_resolved_and_says_it_lost_sight(emulator, monkeypatch,
                                                                                        tmp_path):
    emulator.apply_env(monkeypatch)
    settings = settings_for(emulator, monkeypatch, **ENV)
    with SqliteLedger(tmp_path / "ledger.db") as ledger:
        first = run_sweep(settings, ledger=ledger, notify=True)
        capacity = {f.fingerprint for f in first.findings if f.rule == "capacity"}
        assert capacity, "the demo estate has capacity findings to lose sight of"
        (told,) = messages(emulator)
        assert {fp for fp in capacity} <= {a["data"]["essentials"]["originAlertId"] for a in told["alerts"]}

        emulator.faults.add(service="metrics", status=403)
        second = run_sweep(settings, ledger=ledger, notify=True)

        sent = messages(emulator)[1:]
        assert len(sent) == 1, "one message about the blind spot"
        (message,) = sent
        kinds = alerts(message)
        assert not [k for k in kinds if k[0] in ("resolved", "deleted")], kinds
        blind = [f for f in second.findings if f.rule == "blind-spot" and f.check == "metrics-forbidden"]
        assert blind and all(str(f.severity) == "critical" for f in blind)
        assert all("Lost sight of metrics" in f.summary for f in blind)
        assert {("firing", "blind-spot", "metrics-forbidden")} == set(kinds)
        assert all(a["data"]["alertContext"]["evidence"]["permission"].lower() == "microsoft.insights/metrics/read"
                   for a in message["alerts"]), "the blind spot names the missing right"
        # The capacity findings are still firing in the ledger, untouched.
        states = ledger.finding_states()
        assert all(states[fp].status == "firing" for fp in capacity)


def test_one_notification_sender_at_a_time(emulator, monkeypatch, tmp_path):
    from datetime import datetime, timezone

    from watchdog.sweep.pipeline import NOTIFY_LEASE

    emulator.apply_env(monkeypatch)
    settings = settings_for(emulator, monkeypatch, **ENV)
    with SqliteLedger(tmp_path / "ledger.db") as ledger:
        assert ledger.acquire_lease(NOTIFY_LEASE, "the-cli-check--notify", 600, datetime.now(timezone.utc))
        report = run_sweep(settings, ledger=ledger, notify=True)
        assert [n["status"] for n in report.notifications] == ["not-sent"]
        assert messages(emulator) == [] and ledger.notify_states("ops") == {}
        ledger.release_lease(NOTIFY_LEASE, "the-cli-check--notify")
        run_sweep(settings, ledger=ledger, notify=True)
        assert len(messages(emulator)) == 1
