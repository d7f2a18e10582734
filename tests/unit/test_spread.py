"""Periodic re-checks spread over their interval (watchdog/collect/spread.py) and the probe cache's
reasons to probe (watchdog/collect/probe_cache.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from watchdog.collect import probe_cache, spread
from watchdog.ledger.base import CacheEntry
from watchdog.models import HandlerLogError, HandlerProbe, Sensitive
from watchdog.models_resource import EventHandler

T0 = datetime(2026, 12, 1, 12, 0, 7, tzinfo=timezone.utc)
INTERVAL = timedelta(minutes=30)


def test_items_checked_together_fall_due_spread_over_the_interval_each_once():
    keys = [f"/subscriptions/s/rg/wps-{i}|hub|https://h/{i}" for i in range(1200)]
    last = dict.fromkeys(keys, T0)
    per_sweep = []
    for k in range(1, 7):  # six sweeps 5 minutes apart over one interval
        now = T0 + timedelta(minutes=5 * k)
        due = [key for key in keys if spread.due(key, last[key], now, INTERVAL)]
        last.update(dict.fromkeys(due, now))
        per_sweep.append(len(due))
    assert sum(per_sweep) == 1200  # each exactly once
    assert all(140 <= n <= 260 for n in per_sweep), per_sweep  # about 1/6 each, never all at once


def test_a_whole_interval_always_makes_an_item_due_and_zero_means_always():
    key = "k"
    assert spread.due(key, T0, T0 + INTERVAL, INTERVAL)
    assert spread.due(key, T0, T0, timedelta(0))
    assert not spread.due(key, T0, T0, INTERVAL)
    assert spread.phase(key, INTERVAL) == spread.phase(key, INTERVAL)  # stable across calls and processes


def _entry(ok: bool, addresses: list[str]) -> CacheEntry:
    return CacheEntry(probe_cache.KIND, "/subscriptions/s/x|hub|https://h/x|", {
        "ok": ok, "cause": None if ok else "status", "status": 200 if ok else 500, "detail": "",
        "addresses": addresses}, T0)


def test_why_probe_names_each_reason_and_none_for_a_fresh_passing_record():
    now = T0 + timedelta(seconds=10)
    ok = _entry(True, ["198.51.100.10"])
    assert probe_cache.why_probe(None, False, (), now, INTERVAL) == "no record"
    assert probe_cache.why_probe(_entry(False, ["198.51.100.10"]), False, ("198.51.100.10",), now,
                                 INTERVAL) == "last probe failed"
    assert probe_cache.why_probe(ok, True, ("198.51.100.10",), now, INTERVAL) == "resource settings re-read"
    assert probe_cache.why_probe(ok, False, ("198.51.100.99",), now, INTERVAL) == "host resolves differently"
    assert probe_cache.why_probe(ok, False, ("198.51.100.10",), now, INTERVAL) is None
    assert probe_cache.why_probe(ok, False, ("198.51.100.10",), T0 + INTERVAL, INTERVAL) == "probe interval slot"


def test_handlers_whose_hub_shows_log_errors_leave_the_reused_probes_to_be_probed_now():
    h1 = EventHandler(hub="chat", url_redacted="https://h/a", host="h")
    h2 = EventHandler(hub="other", url_redacted="https://h/b", host="h")
    plan = probe_cache.Plan(reused={"r": [HandlerProbe(h1, ok=True), HandlerProbe(h2, ok=True)]})
    found = {"r": [(h1, Sensitive("https://h/a")), (h2, Sensitive("https://h/b"))]}
    errors = {"r": [HandlerLogError(hub="chat", event="connect", status="500", kind="HttpHandlerUnexpectedResponse", count=3)]}
    extra = probe_cache.with_log_errors(plan, found, errors)
    assert [h for h, _ in extra["r"]] == [h1]
    assert [p.handler for p in plan.reused["r"]] == [h2]
