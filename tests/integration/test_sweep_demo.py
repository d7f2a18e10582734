"""The sweep on the demo scenario, through the real SDKs against the emulator."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from watchdog import report as report_mod
from watchdog.azure import USER_AGENT
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.scope import Scope
from watchdog.sweep import Caches, run_sweep

from .sweep_helpers import observe_by_name, settings_for

pytestmark = pytest.mark.integration
# The five original resources, and one planted per configuration rule of issue 14.
NAMES = {"chat-prod", "notify-prod", "free-dev", "telemetry-eu", "presence-eu", "locked-down", "acl-chat",
         "stopped-qa", "partial-logs", "untagged", "free-prod", "no-hubs", "chat-us", "private-eu", "global-chat",
         "feed-eu", "lobby-eu", "lab-unwatched"}
SECRET_TEXT = ("AccessKey", "demo-function-key", "demo-signature", "code=", "sig=")


def test_observations_hold_exactly_the_demo_estate(emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    obs, errors = observe_by_name(settings)

    assert set(obs) == NAMES and errors == []
    assert all(o.errors == () for o in obs.values())
    chat, notify, free, tele, presence = (obs[n] for n in ("chat-prod", "notify-prod", "free-dev",
                                                             "telemetry-eu", "presence-eu"))
    # Inventory and SKUs.
    assert (chat.resource.sku_name, chat.resource.capacity, chat.resource.location) == ("Standard_S1", 2, "eastus")
    assert chat.resource.host_name == "chat-prod.webpubsub.azure.com"
    assert chat.allowed_capacities == tuple(range(1, 11)) + tuple(range(20, 101, 10))
    assert free.allowed_capacities == (1,)
    assert tele.resource.disable_local_auth and tele.resource.sku_name == "Premium_P1"

    # Secrets: the stale one is rejected by the service and matches neither key.
    (stale,) = chat.secrets
    assert stale.uri == "https://kv-demo-contoso.vault.azure.net/secrets/chat-prod-connection"
    assert stale.endpoint_host == "chat-prod.webpubsub.azure.com" and stale.content_type == "text/plain"
    assert stale.tags == {"owner": "chat-team"} and stale.enabled
    assert stale.key_fingerprint not in (chat.keys.primary, chat.keys.secondary)
    assert (stale.proof.status, stale.proof.outcome) == (401, "rejected")
    (secondary,) = notify.secrets
    assert secondary.key_fingerprint == notify.keys.secondary
    assert (secondary.proof.status, secondary.proof.outcome) == (404, "accepted")
    (good,) = presence.secrets
    assert good.key_fingerprint == presence.keys.primary and good.proof.outcome == "accepted"
    # No bound secret, or local auth off: keys are never listed.
    assert free.keys is None and tele.keys is None and free.secrets == () and tele.secrets == ()

    # Metrics, by "Metric:Aggregation".
    peak = max(p.value for p in chat.metrics.series["TotalConnectionCount:Maximum"] if p.value is not None)
    assert peak == 1840
    assert max(p.value for p in chat.metrics.series["ConnectionQuotaUtilization:Maximum"] if p.value) == 92
    assert chat.metrics.series["OutboundTraffic:Total"]
    assert chat.metrics.window_minutes == settings.window_minutes
    assert notify.metrics.close_counts["SendEventFailed"] == 7 * settings.window_minutes
    assert free.metrics.close_counts["Throttled"] > 0
    assert "ConnectionQuotaUtilization:Maximum" in tele.metrics.series

    # Diagnostics, autoscale.
    assert free.diagnostics.workspace_ids == () and free.log_errors is None
    assert chat.diagnostics.workspace_ids[0].endswith("/workspaces/law-demo")
    assert tele.autoscale and all(o.autoscale == () for o in (chat, notify, free, presence))

    # Handlers: redacted URLs, and the probes' verdicts.
    original = [obs[n] for n in ("chat-prod", "notify-prod", "presence-eu")]
    urls = {h.url_redacted for o in original for h in o.handlers}
    assert urls == {"https://handler.contoso.com/api/{event}", "https://events.fabrikam.com/api/{hub}/{event}",
                    "https://orders.fabrikam.com/api/events", "https://handler.contoso.com/presence/{event}"}
    probes = {(p.handler.hub, p.ok, p.cause, p.status) for o in original for p in o.probes}
    assert probes == {("chat", True, None, 200), ("presence", True, None, 200),
                      ("notifications", False, "status", 500), ("orders", False, "missing-allowed-origin", 200)}
    # The resources planted for issue 14 have healthy handlers (their findings are about configuration).
    assert all(p.ok for n in NAMES - {"notify-prod"} for p in obs[n].probes)

    # Logs: grouped by hub, event, status and kind; the abuse-protection one mapped to its hub.
    got = {(e.hub, e.event, e.status, e.kind, e.count) for e in notify.log_errors}
    assert got == {("notifications", "connect", "500", "HttpHandlerUnexpectedResponse", 2),
                   ("orders", "validate", "missing-allowed-origin", "AbuseProtectionResponseMissingAllowedOrigin", 1)}
    assert chat.log_errors == () and tele.log_errors == ()


def test_report_on_demo_counts_calls_and_holds_no_secret(emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    report = run_sweep(settings)

    assert {r.name for r in report.resources} == NAMES and report.errors == []
    assert report.finished_at is not None
    assert {"discover", "collect", "diagnose", "remediate", "notify", "total"} <= set(report.timings)
    journal = Counter(e.service for e in emulator.journal if e.status < 400 or e.service != "keyvault")
    # 2 regions x 2 metric sets, and 2 for global-chat's replica (its own resource type and region)
    assert report.api_calls["metrics"] == journal["metrics"] == 6
    # 3 workspaces, one query each (handler errors and connectivity signals together)
    assert report.api_calls["logs"] == journal["logs"] == 3
    assert report.api_calls["arm-write"] == 3  # listKeys: only the 3 resources with bound secrets
    assert report.api_calls["dataplane"] == 3 and report.api_calls["probe"] == 9  # one per handler
    assert report.api_calls["arm-read"] == journal["arm"] - 3
    checks = {(f.rule, f.check, f.resource_id.rsplit("/", 1)[-1]) for f in report.findings}
    assert ("key-drift", "stale-key", "chat-prod") in checks
    assert ("key-drift", "secondary-key", "notify-prod") in checks
    text = report_mod.render(report, "json")
    assert not any(s in text for s in SECRET_TEXT)
    assert json.loads(text)


def test_probes_send_only_options_with_the_service_headers(emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    run_sweep(settings)
    for host in ("handler.contoso.com", "events.fabrikam.com", "orders.fabrikam.com"):
        deliveries = emulator.deliveries(host)
        assert deliveries and {d.method for d in deliveries} == {"OPTIONS"}
        for d in deliveries:
            headers = {k.lower(): v for k, v in d.headers.items()}
            assert headers["ce-awpsversion"] == "1.0"
            assert headers["webhook-request-origin"].endswith(".webpubsub.azure.com")
            assert headers["user-agent"] == USER_AGENT
    chat = [d for d in emulator.deliveries("handler.contoso.com") if d.path == "/api/validate"]
    # The service sends the template's query (a function key) too, so the probe must.
    assert chat and chat[0].query == "code=demo-function-key"
    events = emulator.deliveries("events.fabrikam.com")
    assert events[0].path == "/api/notifications/validate"
    # Notification hosts are not the sweep's business (nothing to notify with notify=False).
    assert not emulator.deliveries("hooks.contoso.com")
    assert not emulator.deliveries("prod-27.westeurope.logic.azure.com")


def test_scope_by_name_collects_one_resource(emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    report = run_sweep(settings, Scope(resources=("presence-eu",)))
    assert [r.name for r in report.resources] == ["presence-eu"]
    assert report.api_calls["metrics"] == 2 and report.api_calls["logs"] == 1


def test_ignore_tag_skips_a_resource(emulator, monkeypatch):
    emulator.world.resource_by_name("free-dev").tags["watchdog-ignore"] = "true"
    settings = settings_for(emulator, monkeypatch)
    report = run_sweep(settings)
    assert {r.name for r in report.resources} == NAMES - {"free-dev"}


def test_revoked_permissions_become_errors_and_the_sweep_completes(emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    emulator.deny("metrics")
    emulator.deny("keyvault", "kv-demo-contoso")
    report = run_sweep(settings)

    assert {r.name for r in report.resources} == NAMES
    metric_errors = [e for e in report.errors if e.source == "metrics"]
    assert {e.resource_id.rsplit("/", 1)[-1] for e in metric_errors} == NAMES
    assert all(e.kind == "forbidden" and e.status == 403 for e in metric_errors)
    assert all(e.permission.lower() == "microsoft.insights/metrics/read" for e in metric_errors)
    vault_errors = [e for e in report.errors if e.source == "secrets"]
    assert {e.subject for e in vault_errors} >= {
        "https://kv-demo-contoso.vault.azure.net",
        "https://kv-demo-contoso.vault.azure.net/secrets/chat-prod-connection"}
    assert all(e.kind == "forbidden" for e in vault_errors)
    blind = {(f.check, f.resource_id.rsplit("/", 1)[-1]) for f in report.findings if f.rule == "blind-spot"}
    assert ("metrics-forbidden", "chat-prod") in blind and ("secrets-forbidden", "chat-prod") in blind
    # Everything else was still collected and judged.
    assert any(f.rule == "upstream" for f in report.findings)
    assert report.api_calls["logs"] == 3
    assert not any("AccessKey" in e.message for e in report.errors)


def test_keys_are_listed_only_when_the_secrets_call_for_it(emulator, monkeypatch, tmp_path):
    settings = settings_for(emulator, monkeypatch)
    with SqliteLedger(str(tmp_path / "ledger.sqlite3")) as ledger:
        first = run_sweep(settings, ledger=ledger)
        assert first.api_calls["arm-write"] == 3
        second = run_sweep(settings, ledger=ledger)
        # presence-eu and notify-prod match their records; chat-prod's secret was already compared
        # with fresh keys and has not changed since: no listKeys, and the verdicts stand.
        assert second.api_calls.get("arm-write") is None
        assert {f.check for f in second.findings if f.rule == "key-drift"} == {"stale-key", "secondary-key"}

        emulator.regenerate_key("presence-eu", "primary")
        third = run_sweep(settings, ledger=ledger)
        # The proof caught the regeneration; presence-eu's keys were re-listed for the evidence.
        assert third.api_calls.get("arm-write") == 1
        drift = {(f.check, f.resource_id.rsplit("/", 1)[-1]) for f in third.findings if f.rule == "key-drift"}
        assert ("stale-key", "presence-eu") in drift


def test_a_warm_sweep_rereads_hubs_and_diagnostics_only_where_the_activity_log_shows_a_change(
        emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    caches = Caches()  # one process, two sweeps
    run_sweep(settings, caches=caches)
    first = len(emulator.journal.where(op="arm.listHubs"))
    assert first == len(NAMES)
    chat = emulator.world.resource_by_name("chat-prod")
    chat.hubs["chat"].event_handlers[0].url_template = "https://events.fabrikam.com/api/{event}"
    emulator.world.record_activity(f"{chat.id}/hubs/chat", "Microsoft.SignalRService/WebPubSub/hubs/write",
                                   "admin@contoso.com")

    report = run_sweep(settings, caches=caches)
    assert len(emulator.journal.where(op="arm.listHubs")) == first + 1
    assert len(emulator.journal.where(op="arm.diagnosticSettings")) == len(NAMES) + 1
    assert len(emulator.journal.where(op="arm.activityLog")) == 1
    probe = next(f for f in report.findings if f.rule == "upstream" and f.resource_id == chat.id)
    assert "events.fabrikam.com" in probe.summary
