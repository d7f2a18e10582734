"""Hubs and diagnostic settings cached in the ledger across processes, invalidated by the activity
log; autoscale listed once per subscription. Through the real SDKs against the emulator: each
sweep gets its own AzureClients and fresh in-process caches (as a fresh process would) and only
the SQLite file is shared."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from watchdog.collect import cache
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.models import Report
from watchdog.settings import Settings
from watchdog.sweep import Caches, run_sweep

from .sweep_helpers import settings_for

pytestmark = pytest.mark.integration
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
NAMES = {"chat-prod", "notify-prod", "free-dev", "telemetry-eu", "presence-eu", "locked-down", "acl-chat",
         "stopped-qa", "partial-logs", "untagged", "free-prod", "no-hubs", "private-eu", "feed-eu", "lobby-eu", "lab-unwatched", "chat-us", "global-chat"}
# Their handler templates carry a function key or a signature, which the ledger must not keep.
SECRET_BEARING = {"chat-prod", "notify-prod"}
SECRET_TEXT = (b"demo-function-key", b"demo-signature", b"code=", b"sig=")


def fresh_process_sweep(settings: Settings, ledger_path: Path, now: datetime | None = None) -> Report:
    """A sweep as a fresh process runs it: new clients, empty in-process caches, the ledger file."""
    with SqliteLedger(ledger_path) as ledger:
        return run_sweep(settings, ledger=ledger, now=now, caches=Caches())


def reads(emulator, op: str, after: int) -> list[str]:
    """Names of the resources whose `op` was called since journal position `after`."""
    return sorted(e.path.split("/")[8] for e in list(emulator.journal)[after:] if e.op == op)


def test_a_fresh_process_reads_no_cached_hubs_or_diagnostics_and_the_ledger_holds_no_secret(
        emulator, monkeypatch, tmp_path):
    settings = settings_for(emulator, monkeypatch)
    path = tmp_path / "ledger.sqlite3"
    first = fresh_process_sweep(settings, path)
    mark = len(emulator.journal)
    assert reads(emulator, "arm.listHubs", 0) == sorted(NAMES)
    assert reads(emulator, "arm.diagnosticSettings", 0) == sorted(NAMES)

    second = fresh_process_sweep(settings, path)
    assert reads(emulator, "arm.diagnosticSettings", mark) == []
    # Only hubs whose templates hold more than the ledger may keep are read again.
    assert reads(emulator, "arm.listHubs", mark) == sorted(SECRET_BEARING)
    # The activity log is read once, from where the first process stopped (less the overlap).
    (log_read,) = emulator.journal.where(op="arm.activityLog")
    since = parse_qs(log_read.query)["$filter"][0].split("'")[1]
    assert datetime.fromisoformat(since) == first.started_at - cache.OVERLAP
    # Same observations, same findings: the cache changed the cost, not the result.
    assert sorted(f.fingerprint for f in second.findings) == sorted(f.fingerprint for f in first.findings)
    # Two reads per resource (hubs and diagnostics) and one per Premium resource (its replicas) become
    # 2 hubs reads and the activity log's one.
    premium = 2  # telemetry-eu, global-chat
    assert second.api_calls["arm-read"] == first.api_calls["arm-read"] - 2 * len(NAMES) - premium + 2 + 1
    stored = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("ledger.sqlite3-*"))
    assert b"handler.contoso.com/presence/{event}" in stored  # the cache is there...
    assert not any(s in stored for s in SECRET_TEXT)  # ...without a function key or signature


def test_without_secret_bearing_templates_a_fresh_process_reads_no_hubs_at_all(emulator, monkeypatch, tmp_path):
    for name in SECRET_BEARING:
        for hub in emulator.world.resource_by_name(name).hubs.values():
            for handler in hub.event_handlers:
                handler.url_template = handler.url_template.split("?")[0]
    # Probe interval 0: every handler probed every sweep, so the probes show the URLs used.
    settings = settings_for(emulator, monkeypatch, WATCHDOG_PROBE_INTERVAL_MINUTES="0")
    path = tmp_path / "ledger.sqlite3"
    fresh_process_sweep(settings, path)
    mark = len(emulator.journal)
    probes = len(emulator.deliveries("handler.contoso.com"))

    fresh_process_sweep(settings, path)
    assert reads(emulator, "arm.listHubs", mark) == []
    assert reads(emulator, "arm.diagnosticSettings", mark) == []
    # Handlers rebuilt from the ledger are still probed, at the same URLs.
    assert len(emulator.deliveries("handler.contoso.com")) == 2 * probes


def test_a_change_in_the_activity_log_rereads_exactly_that_resource_in_a_fresh_process(
        emulator, monkeypatch, tmp_path):
    settings = settings_for(emulator, monkeypatch)
    path = tmp_path / "ledger.sqlite3"
    fresh_process_sweep(settings, path)
    presence = emulator.world.resource_by_name("presence-eu")
    presence.hubs["presence"].event_handlers[0].url_template = "https://events.fabrikam.com/presence/{event}"
    emulator.world.record_activity(f"{presence.id}/hubs/presence", "Microsoft.SignalRService/WebPubSub/hubs/write",
                                   "admin@contoso.com")
    mark = len(emulator.journal)

    # Two minutes later (past the clock margin), so the next sweep can tell the entry read now
    # holds the change.
    later = datetime.now(timezone.utc) + cache.CLOCK_MARGIN * 2
    report = fresh_process_sweep(settings, path, now=later)
    assert reads(emulator, "arm.diagnosticSettings", mark) == ["presence-eu"]
    assert reads(emulator, "arm.listHubs", mark) == sorted(SECRET_BEARING | {"presence-eu"})
    # The probe went to the new handler: the sweep used what it re-read, not the cached entry.
    assert [d.path for d in emulator.deliveries("events.fabrikam.com")].count("/presence/validate") == 1
    assert report.errors == []

    # The next process sees the change again (the lookback overlaps), but the entry in the ledger
    # was read after it: no read of presence-eu again.
    mark = len(emulator.journal)
    fresh_process_sweep(settings, path, now=later + timedelta(seconds=1))
    assert len(emulator.journal.where(op="arm.activityLog")) == 2
    assert reads(emulator, "arm.diagnosticSettings", mark) == []
    assert reads(emulator, "arm.listHubs", mark) == sorted(SECRET_BEARING)


def test_an_unreadable_activity_log_trusts_no_cached_entry_and_says_why(emulator, monkeypatch, tmp_path):
    settings = settings_for(emulator, monkeypatch)
    path = tmp_path / "ledger.sqlite3"
    fresh_process_sweep(settings, path)
    emulator.deny("arm", f"/subscriptions/{SUB}", "Microsoft.Insights/eventtypes/values/read")
    for _ in range(2):  # every sweep tries the log again, so the finding does not flap
        mark = len(emulator.journal)
        report = fresh_process_sweep(settings, path)
        assert reads(emulator, "arm.diagnosticSettings", mark) == sorted(NAMES)
        assert reads(emulator, "arm.listHubs", mark) == sorted(NAMES)
        (blind,) = [f for f in report.findings if f.rule == "blind-spot" and f.check == "activity-log-forbidden"]
        assert "re-read them for every resource" in blind.summary
        assert "Microsoft.Insights/eventtypes/values/read" in blind.guidance

    emulator.allow_all()
    fresh_process_sweep(settings, path)  # reads the log; its record restarted last sweep
    mark = len(emulator.journal)
    fresh_process_sweep(settings, path)
    assert reads(emulator, "arm.diagnosticSettings", mark) == []


def test_autoscale_is_listed_once_per_subscription_and_found_in_any_resource_group(emulator, monkeypatch):
    from emulator.world import AutoscaleSetting

    chat = emulator.world.resource_by_name("chat-prod")
    with emulator.world.lock:  # a setting in another group than its target (rg-ops, not rg-chat)
        emulator.world.autoscale.append(AutoscaleSetting("chat-scale", chat.subscription_id, "rg-ops",
                                                         chat.location, chat.id))
    settings = settings_for(emulator, monkeypatch)
    report = run_sweep(settings)
    assert len(emulator.journal.where(op="arm.autoscaleBySubscription")) == 1
    assert emulator.journal.where(op="arm.autoscaleByResourceGroup") == []
    assert any(f.rule == "posture" and f.check == "autoscale" and f.resource_id == chat.id for f in report.findings)


def test_the_in_process_cache_still_serves_sweeps_without_a_ledger(emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    caches = Caches()  # one process, two sweeps
    run_sweep(settings, caches=caches)
    mark = len(emulator.journal)
    run_sweep(settings, caches=caches)
    # In memory the full templates may stay, so nothing is re-read.
    assert reads(emulator, "arm.listHubs", mark) == [] and reads(emulator, "arm.diagnosticSettings", mark) == []


def test_sku_lists_are_read_once_per_process_and_again_by_a_fresh_one(emulator, monkeypatch, tmp_path):
    settings = settings_for(emulator, monkeypatch)
    caches = Caches()  # what the Functions app keeps per process (watchdog/functions/__init__.py)
    with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        run_sweep(settings, ledger=ledger, caches=caches)
        first = len(emulator.journal.where(op="arm.listSkus"))
        assert first >= 1 and caches.skus.get("Standard_S1")
        run_sweep(settings, ledger=ledger, caches=caches)
        assert len(emulator.journal.where(op="arm.listSkus")) == first
        run_sweep(settings, ledger=ledger, caches=Caches())
        assert len(emulator.journal.where(op="arm.listSkus")) == 2 * first
