"""On the demo scenario the report holds exactly the expected findings, and nothing else."""
from __future__ import annotations

from tests.integration.sweep_helpers import settings_for
from watchdog.sweep import run_sweep

KV = "https://kv-demo-contoso.vault.azure.net/secrets"
EXPECTED = {
    ("critical", "capacity", "utilisation", "chat-prod", "TotalConnectionCount:Maximum"),
    ("critical", "key-drift", "stale-key", "chat-prod", f"{KV}/chat-prod-connection"),
    ("critical", "capacity", "free-at-cap", "free-dev", "TotalConnectionCount:Maximum"),
    ("critical", "capacity", "throttled", "free-dev", "ConnectionCloseCount:Throttled"),
    ("critical", "upstream", "handler-errors", "notify-prod", "notifications/connect/500"),
    ("warning", "capacity", "free-message-quota", "free-dev", "OutboundTraffic:Total"),
    ("warning", "posture", "no-workspace", "free-dev", "free-dev"),
    ("warning", "key-drift", "secondary-key", "notify-prod", f"{KV}/notify-prod-connection"),
    ("warning", "upstream", "handler-errors", "notify-prod", "orders/validate/missing-allowed-origin"),
    ("warning", "upstream", "probe-failed", "notify-prod", "notifications https://events.fabrikam.com/api/{hub}/{event}"),
    ("warning", "upstream", "probe-failed", "notify-prod", "orders https://orders.fabrikam.com/api/events"),
    ("warning", "upstream", "sendeventfailed", "notify-prod", "ConnectionCloseCount:SendEventFailed"),
    ("info", "posture", "local-auth", "chat-prod", "chat-prod"),
    ("info", "posture", "local-auth", "free-dev", "free-dev"),
    ("info", "posture", "local-auth", "notify-prod", "notify-prod"),
    ("info", "posture", "local-auth", "presence-eu", "presence-eu"),
    ("info", "posture", "autoscale", "telemetry-eu", "telemetry-eu"),
}


def _row(finding) -> tuple[str, str, str, str, str]:  # noqa: ANN001
    name = finding.resource_id.rsplit("/", 1)[-1]
    subject = name if finding.subject.lower() == finding.resource_id.lower() else finding.subject
    return (str(finding.severity), finding.rule, finding.check, name, subject)


def test_the_demo_report_holds_exactly_the_expected_findings(emulator, monkeypatch) -> None:
    report = run_sweep(settings_for(emulator, monkeypatch))
    assert report.errors == []
    assert sorted(map(_row, report.findings)) == sorted(EXPECTED)
    # Fingerprints are what the ledger and notifications key on: one per finding.
    assert len({f.fingerprint for f in report.findings}) == len(EXPECTED)


def test_the_demo_sync_refreshes_the_app_reading_the_secret(emulator, monkeypatch, tmp_path) -> None:
    """What `make demo`'s second step shows: secret sync writes chat-prod-connection, and the same
    sweep refreshes chat-api (which reads it) and proves it resolves the written version."""
    from watchdog.ledger.sqlite import SqliteLedger

    assert emulator.consume("chat-api").status == 401, "the stored key is stale: chat-api is down"
    settings = settings_for(emulator, monkeypatch, WATCHDOG_SECRET_SYNC="on")
    with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        report = run_sweep(settings, mode={"secret-sync": "on", "consumer-refresh": "on"}, ledger=ledger,
                           now=emulator.now())
        trail = [(e.kind, e.status) for e in reversed(ledger.actions())]
    done = {o.action.kind: o for o in report.outcomes if o.status == "done"}
    assert done["secret-sync"].verified and done["consumer-refresh"].verified, report.outcomes
    assert done["consumer-refresh"].action.params["site"] == "chat-api"
    assert done["consumer-refresh"].after["active_versions"] == {"WebPubSubConnectionString":
                                                                 done["secret-sync"].after["version"]}
    assert [e.op for e in emulator.journal.writes() if e.op in ("keyvault.setSecret", "web.refreshReferences")] == [
        "keyvault.setSecret", "web.refreshReferences"], "the refresh follows the write"
    assert ("consumer-refresh", "done") in trail
    assert emulator.consume("chat-api").status == 202, "chat-api's calls are accepted again"
