"""The sweep within ARM's throttling budget, through the real SDKs against the emulator with ARM
throttling on and small buckets: the client-side limiter, the header adaptation, the throttle
retries, the listKeys cap and the sweep deadline. Each sweep runs as a fresh process would (new
clients, empty in-process caches); only the SQLite ledger is shared."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from emulator.scenarios.generate import generate
from emulator.world import TokenBucket
from watchdog import sweep
from watchdog.azure import AzureClients
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.models import Report
from watchdog.settings import Settings
from watchdog.throttle import ARM_READ, ARM_WRITE, ArmRateLimiter, Bucket

from .sweep_helpers import settings_for

pytestmark = pytest.mark.integration


def sweep_once(settings: Settings, path: Path, limiter: ArmRateLimiter | None = None) -> Report:
    with AzureClients(settings, limiter=limiter) as clients, SqliteLedger(path) as ledger:
        return sweep.run_sweep(settings, clients=clients, ledger=ledger, caches=sweep.Caches())


def names(emulator, op: str, after: int = 0) -> list[str]:  # noqa: ANN001
    return sorted(e.path.split("/")[8] for e in list(emulator.journal)[after:] if e.op == op)


def errors_of(report: Report, source: str, kind: str) -> set[str]:
    return {e.resource_id.rsplit("/", 1)[-1] for e in report.errors if e.source == source and e.kind == kind}


def generated(emulator_factory, n: int, **world: float):  # noqa: ANN001, ANN201
    emulator = emulator_factory(generate(n, seed=5, latency=False))
    for name, value in world.items():
        setattr(emulator.world, name, value)
    return emulator


class NoLimit(ArmRateLimiter):
    """The retries alone, as before the limiter."""

    def acquire(self, subscription: str, kind: str, deadline: float | None = None) -> None:
        pass

    def observe(self, subscription: str, kind: str, remaining: int) -> None:
        pass


def test_the_limiter_keeps_a_cold_sweep_under_arms_buckets(emulator_factory, monkeypatch, tmp_path):
    emulator = generated(emulator_factory, 60, arm_reads_burst=20, arm_reads_per_second=40)
    settings = settings_for(emulator, monkeypatch)
    limiter = ArmRateLimiter({ARM_READ: Bucket(20, 40), ARM_WRITE: Bucket(200, 10)})
    report = sweep_once(settings, tmp_path / "l.sqlite3", limiter)
    assert len(names(emulator, "arm.diagnosticSettings")) == 60  # cold: every resource read
    assert report.throttled.get("arm-read", 0) == 0
    assert not [e for e in emulator.journal if e.status == 429]


def test_the_limiter_backs_off_when_the_headers_show_someone_else_spent_the_bucket(
        emulator_factory, monkeypatch, tmp_path):
    emulator = generated(emulator_factory, 60)  # ARM's real buckets: 250 reads, 25/s
    world = emulator.world
    # Another caller of the same identity and subscription left 60 of the 250 read tokens.
    world.buckets[(world.subscriptions[0], world.principal_id, "reads")] = TokenBucket(250, 25, tokens=60)
    settings = settings_for(emulator, monkeypatch)
    report = sweep_once(settings, tmp_path / "l.sqlite3")
    assert len(names(emulator, "arm.diagnosticSettings")) == 60
    # Believing its own 200 tokens, the sweep would have sent ~130 reads into 60: 429s.
    assert report.throttled.get("arm-read", 0) == 0


def test_throttled_calls_are_retried_until_they_pass(emulator_factory, monkeypatch, tmp_path):
    emulator = generated(emulator_factory, 20, arm_reads_burst=2, arm_reads_per_second=8)
    settings = settings_for(emulator, monkeypatch)
    report = sweep_once(settings, tmp_path / "l.sqlite3", NoLimit())
    assert report.throttled.get("arm-read", 0) > 0  # 16 threads into a bucket of 2: met...
    assert not [e for e in report.errors if e.kind == "throttled"]  # ...and none left unhandled
    assert len(names(emulator, "arm.diagnosticSettings")) >= 20


def test_list_keys_is_capped_per_sweep_most_urgent_first_and_deferred_keys_give_no_false_verdict(
        emulator_factory, monkeypatch, tmp_path):
    emulator = generated(emulator_factory, 40)
    settings = settings_for(emulator, monkeypatch, WATCHDOG_MAX_LIST_KEYS="3")
    path = tmp_path / "l.sqlite3"
    first = sweep_once(settings, path)
    listed = names(emulator, "arm.listKeys")
    deferred = errors_of(first, "keys", "deferred")
    assert len(listed) == 3 and len(deferred) >= 3 and not set(listed) & deferred
    # No record yet: listed in id order, so the next sweeps go on from there.
    assert listed == sorted(listed) and max(listed) < min(deferred)
    for f in first.findings:
        if f.rule == "key-drift" and f.resource_id.rsplit("/", 1)[-1] in deferred:
            assert f.evidence["keys"] == "not listed this sweep: budget"
            assert f.check not in ("secondary-key", "stale-key")  # no verdict that needs the keys
    infos = [f for f in first.findings if f.rule == "blind-spot" and f.check == "keys-deferred"]
    total = [f for f in infos if f.resource_id.startswith("/subscriptions/") and f.resource_id.count("/") == 2]
    assert len(total) == 1 and total[0].evidence["deferred"] == len(deferred)
    assert {str(f.severity) for f in infos} == {"info"}

    # A listed resource's key is regenerated: its rejected proof goes before the no-record ones.
    regenerated = listed[-1]
    emulator.world.regenerate_key(emulator.world.resource_by_name(regenerated).id, "primary")
    emulator.world.regenerate_key(emulator.world.resource_by_name(regenerated).id, "secondary")
    mark = len(emulator.journal)
    second = sweep_once(settings, path)
    again = names(emulator, "arm.listKeys", mark)
    assert len(again) == 3 and regenerated in again
    assert sorted(set(again) - {regenerated}) == sorted(deferred)[:2]
    # Same deferred resources, same fingerprints: the findings do not churn while the cap catches up.
    still = errors_of(second, "keys", "deferred")
    fingerprints = {f.fingerprint for f in second.findings if f.check == "keys-deferred"}
    assert {f.fingerprint for f in first.findings if f.check == "keys-deferred"
            and f.resource_id.rsplit("/", 1)[-1] in still} <= fingerprints


def test_past_the_deadline_cold_reads_are_deferred_and_the_cache_fills_over_sweeps(
        emulator_factory, monkeypatch, tmp_path):
    emulator = generated(emulator_factory, 24)
    # A deadline of 2 s and a slow limiter: far fewer cold reads than 24 resources need.
    settings = dataclasses.replace(settings_for(emulator, monkeypatch), sweep_deadline_seconds=2)
    path = tmp_path / "l.sqlite3"
    read: set[str] = set()
    for n in range(1, 11):
        limiter = ArmRateLimiter({ARM_READ: Bucket(20, 10), ARM_WRITE: Bucket(200, 10)})
        mark = len(emulator.journal)
        report = sweep_once(settings, path, limiter)
        now_read = set(names(emulator, "arm.diagnosticSettings", mark))
        assert not now_read & read  # what an earlier sweep cached is not read again
        read |= now_read
        deferred = errors_of(report, "diagnostics", "deferred")
        assert deferred == {r.name for r in report.resources} - read
        assert errors_of(report, "hubs", "deferred") >= deferred
        by_name = {o.name: o for o in report.resources}
        assert by_name.keys() == {r.name for r in report.resources}
        if n == 1:
            assert deferred and now_read  # some read, some deferred
        if deferred:
            # Never reported healthy while something was not looked at.
            total = [f for f in report.findings if f.check == "diagnostics-deferred"
                     and f.resource_id.count("/") == 2]
            assert len(total) == 1 and str(total[0].severity) == "warning"
            assert total[0].evidence["deferred"] == len(deferred)
            assert report.worst is not None and str(report.worst) in ("warning", "critical")
            assert not [f for f in report.findings if f.rule == "posture" and f.check == "no-workspace"
                        and f.resource_id.rsplit("/", 1)[-1] in deferred]
        else:
            break
    assert len(read) == 24 and n > 1
