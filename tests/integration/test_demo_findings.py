"""On the demo scenario the report holds exactly the expected findings, and nothing else."""
from __future__ import annotations

from tests.integration.sweep_helpers import settings_for
from watchdog.sweep import run_sweep

KV = "https://kv-demo-contoso.vault.azure.net/secrets"
OPS = "/subscriptions/6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg-ops/providers/Microsoft.SignalRService/WebPubSub"
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
    # One planted resource per configuration rule (issue 14).
    ("critical", "network", "unreachable", "locked-down", "locked-down"),
    ("warning", "network", "private-endpoint-pending", "private-eu", f"{OPS}/private-eu/privateEndpointConnections/pe-analytics"),
    ("warning", "network", "acl-denies", "acl-chat", "acl-chat"),
    ("critical", "posture", "resource-stopped", "stopped-qa", "stopped-qa"),
    ("warning", "posture", "diagnostic-categories", "partial-logs", "partial-logs"),
    ("info", "posture", "missing-tags", "untagged", "untagged"),
    ("warning", "posture", "free-in-production", "free-prod", "free-prod"),
    ("warning", "hubs", "none", "no-hubs", "no-hubs"),
    ("warning", "hubs", "no-handler", "feed-eu", f"{OPS}/feed-eu/hubs/feed"),
    ("warning", "upstream", "eventhandlernotfound", "feed-eu", "ConnectionCloseCount:EventHandlerNotFound"),
    ("warning", "hubs", "system-events", "lobby-eu", f"{OPS}/lobby-eu/hubs/lobby"),
    ("warning", "upstream", "eventhandlernotfound", "lobby-eu", "ConnectionCloseCount:EventHandlerNotFound"),
    ("info", "posture", "no-alerts", "lab-unwatched", "lab-unwatched"),
    ("critical", "replicas", "utilisation", "global-chat", f"{OPS}/global-chat/replicas/global-chat-westus2"),
    ("critical", "replicas", "throttled", "global-chat", f"{OPS}/global-chat/replicas/global-chat-westus2"),
    ("warning", "upstream", "cross-region", "chat-us",
     "/subscriptions/6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg-chat/providers/Microsoft.Web/sites/events-westus"),
}
HEALTHY = {"presence-eu", "telemetry-eu"}


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
def test_the_demo_healthy_resources_carry_no_warning(emulator, monkeypatch) -> None:
    report = run_sweep(settings_for(emulator, monkeypatch))
    names = {f.resource_id.rsplit("/", 1)[-1] for f in report.findings if f.severity >= f.severity.WARNING}
    assert {r.name for r in report.resources} >= HEALTHY and not names & HEALTHY
