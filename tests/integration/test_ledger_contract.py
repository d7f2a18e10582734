"""One contract, two backends: every Ledger method against SQLite (a file in tmp_path) and Azure
Table Storage (Azurite). A backend passes only if it behaves exactly like the other."""
from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest

from watchdog.ledger import AuditEntry, FindingState, KeyRecord, Ledger, NotifyState, open_ledger
from watchdog.ledger.base import MAX_CACHED_CHARS, CacheEntry
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.ledger.table import TableLedger
from watchdog.models import Sensitive, Severity
from watchdog.settings import ConfigError, Settings

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
RID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-Prod/providers/Microsoft.SignalRService/WebPubSub/chat"
OTHER = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-prod/providers/Microsoft.SignalRService/WebPubSub/other"
# Characters Table keys forbid or URLs mangle, in a resource id, a target and a fingerprint.
AWKWARD = "/subscriptions/x/resourceGroups/a b#c?d'e\\f/providers/p/ü%24$2F"

Factory = Callable[[], Ledger]  # opens another ledger instance on the same store


@pytest.fixture(params=["sqlite", "table"])
def open_same(request, tmp_path) -> Factory:
    opened: list[Ledger] = []
    if request.param == "sqlite":
        path = tmp_path / "state" / "ledger.sqlite3"

        def factory() -> Ledger:
            opened.append(SqliteLedger(path))
            return opened[-1]
    else:
        connection = request.getfixturevalue("azurite_table")
        prefix = "t" + uuid.uuid4().hex[:12]  # one Azurite per session: tables per test

        def factory() -> Ledger:
            opened.append(TableLedger.from_connection_string(Sensitive(connection), prefix))
            return opened[-1]
    yield factory
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(open_same: Factory) -> Ledger:
    return open_same()


def audit(id: str, at: datetime, resource_id: str = RID, **changes) -> AuditEntry:
    entry = AuditEntry(
        id=id, at=at, resource_id=resource_id, kind="scale", subject="capacity",
        reason="peak 920 of 1000 connections (92%)", status="done",
        before={"capacity": 1, "sku": "Standard_S1"}, after={"capacity": 2, "nested": {"list": [1, "two", None]}},
        verified=True, proof="re-read SKU: capacity 2", sweep_id="sweep-1",
    )
    return replace(entry, **changes)


# --- audit trail ---------------------------------------------------------------------------


def test_action_round_trips_every_field(ledger: Ledger):
    entry = audit("a1", T0)
    ledger.record_action(entry)
    assert ledger.actions(RID) == [entry]
    assert ledger.actions() == [entry]


@pytest.mark.parametrize("verified", [True, False, None])
def test_action_verified_keeps_its_three_states(ledger: Ledger, verified):
    ledger.record_action(audit("a1", T0, verified=verified, before={}, after={}, proof="", sweep_id=""))
    [got] = ledger.actions(RID)
    assert got.verified is verified
    assert (got.before, got.after, got.proof, got.sweep_id) == ({}, {}, "", "")


def test_recording_the_same_id_replaces_the_entry(ledger: Ledger):
    ledger.record_action(audit("a1", T0, status="planned", verified=None))
    ledger.record_action(audit("a1", T0 + timedelta(minutes=2), status="done", verified=True))
    [got] = ledger.actions(RID)
    assert (got.status, got.verified, got.at) == ("done", True, T0 + timedelta(minutes=2))


def test_actions_newest_first_filtered_and_limited(ledger: Ledger):
    for minute, resource in [(1, RID), (3, OTHER), (2, RID), (5, RID), (4, OTHER)]:
        ledger.record_action(audit(f"a{minute}", T0 + timedelta(minutes=minute), resource_id=resource))
    assert [e.id for e in ledger.actions()] == ["a5", "a4", "a3", "a2", "a1"]
    assert [e.id for e in ledger.actions(RID)] == ["a5", "a2", "a1"]
    assert [e.id for e in ledger.actions(OTHER, limit=1)] == ["a4"]
    assert [e.id for e in ledger.actions(limit=2)] == ["a5", "a4"]
    assert ledger.actions("/subscriptions/none") == []


def test_resource_ids_match_case_insensitively(ledger: Ledger):
    # ARM returns resourceGroups/resourcegroups inconsistently; it is the same resource.
    ledger.record_action(audit("a1", T0))
    ledger.set_last_scaled(RID, T0)
    assert [e.id for e in ledger.actions(RID.upper())] == ["a1"]
    assert ledger.actions(RID.upper())[0].resource_id == RID  # the original spelling is kept
    assert ledger.last_scaled(RID.lower()) == T0


# --- scaling -------------------------------------------------------------------------------


def test_last_scaled_set_overwrite_and_per_resource(ledger: Ledger):
    assert ledger.last_scaled(RID) is None
    ledger.set_last_scaled(RID, T0)
    ledger.set_last_scaled(RID, T0 + timedelta(hours=1))
    assert ledger.last_scaled(RID) == T0 + timedelta(hours=1)
    assert ledger.last_scaled(OTHER) is None


def test_low_since_set_clear_and_independent_of_last_scaled(ledger: Ledger):
    assert ledger.low_since(RID) is None
    ledger.set_last_scaled(RID, T0)
    ledger.set_low_since(RID, T0 + timedelta(minutes=5))
    assert ledger.low_since(RID) == T0 + timedelta(minutes=5)
    assert ledger.low_since(OTHER) is None
    ledger.set_low_since(RID, None)
    assert ledger.low_since(RID) is None
    assert ledger.last_scaled(RID) == T0
    ledger.set_low_since(RID, None)  # clearing twice is harmless
    ledger.set_low_since(RID, T0 + timedelta(minutes=9))
    ledger.set_last_scaled(RID, T0 + timedelta(minutes=10))
    assert ledger.low_since(RID) == T0 + timedelta(minutes=9)


def test_datetimes_keep_the_instant_and_microseconds_and_come_back_utc(ledger: Ledger):
    paris = timezone(timedelta(hours=2))
    when = datetime(2025, 6, 1, 14, 30, 15, 999, tzinfo=paris)
    ledger.set_last_scaled(RID, when)
    got = ledger.last_scaled(RID)
    assert got == when and got.utcoffset() == timedelta(0) and got.microsecond == 999


# --- key fingerprints ----------------------------------------------------------------------


def test_key_fingerprints_round_trip_and_overwrite(ledger: Ledger):
    assert ledger.key_fingerprints(RID) is None
    first = KeyRecord(RID, primary_fp="0123456789abcdef", secondary_fp="fedcba9876543210", seen_at=T0)
    ledger.put_key_fingerprints(first)
    assert ledger.key_fingerprints(RID) == first
    regenerated = replace(first, primary_fp="aaaaaaaaaaaaaaaa", seen_at=T0 + timedelta(minutes=5))
    ledger.put_key_fingerprints(regenerated)
    assert ledger.key_fingerprints(RID) == regenerated
    assert ledger.key_fingerprints(OTHER) is None


def test_key_records_are_read_all_at_once(ledger: Ledger):
    assert ledger.key_records() == {}
    mine = KeyRecord(RID, primary_fp="0123456789abcdef", secondary_fp="fedcba9876543210", seen_at=T0)
    other = KeyRecord(OTHER, primary_fp="aaaaaaaaaaaaaaaa", secondary_fp="bbbbbbbbbbbbbbbb", seen_at=T0)
    ledger.put_key_fingerprints(mine)
    ledger.put_key_fingerprints(other)
    assert ledger.key_records() == {RID.lower(): mine, OTHER.lower(): other}


# --- findings and notifications ------------------------------------------------------------


def finding(fingerprint: str, **changes) -> FindingState:
    state = FindingState(
        fingerprint=fingerprint, rule="capacity", check="near-cap", severity=Severity.CRITICAL, resource_id=RID,
        subject="connections", summary="92% of the connection cap", status="firing",
        firing_since=T0, last_seen=T0 + timedelta(minutes=5),
    )
    return replace(state, **changes)


def test_finding_states_round_trip_update_and_resolve(ledger: Ledger):
    assert ledger.finding_states() == {}
    a, b = finding("fp-a"), finding("fp-b", rule="key-drift", check="stale-key", severity=Severity.WARNING)
    ledger.put_finding_state(a)
    ledger.put_finding_state(b)
    assert ledger.finding_states() == {"fp-a": a, "fp-b": b}
    resolved = replace(a, status="resolved", last_seen=T0 + timedelta(minutes=10),
                       resolved_at=T0 + timedelta(minutes=15))
    ledger.put_finding_state(resolved)
    states = ledger.finding_states()
    assert states == {"fp-a": resolved, "fp-b": b}
    assert states["fp-b"].resolved_at is None and states["fp-b"].severity is Severity.WARNING


def test_a_finding_that_fires_again_loses_its_resolved_at(ledger: Ledger):
    # An upsert replaces the whole state: a field now None must not keep its old value.
    resolved = finding("fp-a", status="resolved", resolved_at=T0 + timedelta(minutes=15))
    ledger.put_finding_state(resolved)
    again = replace(resolved, status="firing", firing_since=T0 + timedelta(hours=1),
                    last_seen=T0 + timedelta(hours=1), resolved_at=None)
    ledger.put_finding_state(again)
    assert ledger.finding_states() == {"fp-a": again}


def test_notify_states_are_per_target_and_update(ledger: Ledger):
    teams, hook = "teams:ops", "webhook:pager"
    assert ledger.notify_states(teams) == {}
    owed = NotifyState(teams, "fp-a", last_state="firing", pending=True)  # never delivered yet
    ledger.put_notify_state(owed)
    ledger.put_notify_state(NotifyState(hook, "fp-a", "firing", T0, "d-1", False))
    assert ledger.notify_states(teams) == {"fp-a": owed}
    delivered = replace(owed, last_notified_at=T0 + timedelta(minutes=5), last_delivery_id="d-2", pending=False)
    ledger.put_notify_state(delivered)
    assert ledger.notify_states(teams) == {"fp-a": delivered}
    assert ledger.notify_states(hook) == {"fp-a": NotifyState(hook, "fp-a", "firing", T0, "d-1", False)}
    assert ledger.notify_states("teams:other") == {}


def test_a_sweep_reads_only_open_state(ledger: Ledger):
    firing, done = finding("fp-a"), finding("fp-b", status="resolved", resolved_at=T0 + timedelta(minutes=15))
    for state in (firing, done):
        ledger.put_finding_state(state)
    assert ledger.finding_states(open_only=True) == {"fp-a": firing}
    told_firing = NotifyState("ops", "fp-a", "firing", T0, "d-1", False)
    owed = NotifyState("ops", "fp-c", "resolved", T0, "d-2", pending=True)
    told_resolved = NotifyState("ops", "fp-b", "resolved", T0, "d-3", False)
    for state in (told_firing, owed, told_resolved):
        ledger.put_notify_state(state)
    assert ledger.notify_states("ops", open_only=True) == {"fp-a": told_firing, "fp-c": owed}
    assert len(ledger.notify_states("ops")) == 3


def test_prune_drops_old_closed_rows_only_and_is_bounded(ledger: Ledger):
    old, recent = T0, T0 + timedelta(days=100)
    ledger.put_finding_state(finding("fp-old", status="resolved", resolved_at=old))
    ledger.put_finding_state(finding("fp-new", status="resolved", resolved_at=recent))
    ledger.put_finding_state(finding("fp-firing", firing_since=old, last_seen=old))  # open: never pruned
    ledger.put_notify_state(NotifyState("ops", "fp-old", "resolved", old, "d-1", False))
    ledger.put_notify_state(NotifyState("ops", "fp-owed", "resolved", old, "d-2", pending=True))
    ledger.put_notify_state(NotifyState("ops", "fp-firing", "firing", old, "d-3", False))
    ledger.record_action(audit("a-old", old))
    ledger.record_action(audit("a-new", recent))
    cutoff = T0 + timedelta(days=10)
    assert ledger.prune(cutoff, 2) == 2  # bounded: the rest waits for the next sweep
    assert ledger.prune(cutoff, 100) == 1
    assert ledger.prune(cutoff, 100) == 0
    assert set(ledger.finding_states()) == {"fp-new", "fp-firing"}
    assert set(ledger.notify_states("ops")) == {"fp-owed", "fp-firing"}
    assert [a.id for a in ledger.actions()] == ["a-new"]


def test_awkward_characters_in_keys(ledger: Ledger):
    ledger.record_action(audit("id/with#odd?chars'", T0, resource_id=AWKWARD))
    ledger.set_last_scaled(AWKWARD, T0)
    ledger.put_key_fingerprints(KeyRecord(AWKWARD, "p", "s", T0))
    ledger.put_finding_state(finding("fp/#?'\\", resource_id=AWKWARD))
    ledger.put_notify_state(NotifyState("https://x/y?z#w", "fp/#?'\\", "resolved", T0))
    assert [e.id for e in ledger.actions(AWKWARD)] == ["id/with#odd?chars'"]
    assert ledger.last_scaled(AWKWARD) == T0
    assert ledger.key_fingerprints(AWKWARD).resource_id == AWKWARD
    assert list(ledger.finding_states()) == ["fp/#?'\\"]
    assert list(ledger.notify_states("https://x/y?z#w")) == ["fp/#?'\\"]
    assert ledger.acquire_lease(AWKWARD, "a", 60, T0)
    assert not ledger.acquire_lease(AWKWARD, "b", 60, T0)


def test_state_is_stored_not_cached(open_same: Factory):
    writer = open_same()
    writer.record_action(audit("a1", T0))
    writer.set_last_scaled(RID, T0)
    writer.set_low_since(RID, T0)
    writer.put_key_fingerprints(KeyRecord(RID, "p", "s", T0))
    writer.put_finding_state(finding("fp-a"))
    writer.put_notify_state(NotifyState("t", "fp-a", "firing", T0, "d", False))
    reader = open_same()
    assert [e.id for e in reader.actions()] == ["a1"]
    assert (reader.last_scaled(RID), reader.low_since(RID)) == (T0, T0)
    assert reader.key_fingerprints(RID) == KeyRecord(RID, "p", "s", T0)
    assert list(reader.finding_states()) == ["fp-a"]
    assert list(reader.notify_states("t")) == ["fp-a"]


# --- cache ---------------------------------------------------------------------------------


def test_cache_round_trips_json_payloads_per_kind_and_key(ledger: Ledger):
    hubs = CacheEntry("hubs", RID.lower(), {"handlers": [{"url": "https://h/api/{event}", "events": ["connect"]}],
                                            "n": 1, "none": None, "ok": True}, T0)
    mark = CacheEntry("activity-log", "00000000-0000-0000-0000-000000000001", {}, T0 + timedelta(minutes=5))
    assert ledger.put_cached(hubs, mark) == []
    assert ledger.cached("hubs", RID.lower()) == hubs
    assert ledger.cached("hubs", RID) is None  # keys compare exactly: callers normalise
    assert ledger.cached("other-kind", RID.lower()) is None
    assert ledger.cached_all("hubs") == {RID.lower(): hubs}
    assert ledger.cached_all("activity-log") == {mark.key: mark}
    assert ledger.cached_all("nothing") == {}


def test_cache_upserts_drops_and_batches(ledger: Ledger):
    first = CacheEntry("hubs", "a", [1], T0)
    ledger.put_cached(first)
    newer = replace(first, payload=[2], fetched_at=T0 + timedelta(hours=1))
    # More than one Table transaction's worth, with the same key twice: the last one wins.
    many = [CacheEntry("hubs", f"r{i:03}", {"i": i}, T0) for i in range(250)]
    assert ledger.put_cached(*many, first, newer) == []
    stored = ledger.cached_all("hubs")
    assert len(stored) == 251 and stored["a"] == newer and stored["r249"].payload == {"i": 249}
    ledger.drop_cached("hubs", "a")
    ledger.drop_cached("hubs", "never-there")  # absent is fine
    assert ledger.cached("hubs", "a") is None and len(ledger.cached_all("hubs")) == 250


def test_cache_skips_a_payload_too_large_and_drops_the_stale_one(ledger: Ledger, caplog):
    ledger.put_cached(CacheEntry("hubs", "big", {"small": True}, T0))
    huge = CacheEntry("hubs", "big", {"text": "x" * MAX_CACHED_CHARS}, T0 + timedelta(minutes=1))
    fits = CacheEntry("hubs", "fits", {"text": "x" * (MAX_CACHED_CHARS - 20)}, T0)
    assert ledger.put_cached(huge, fits) == [huge]
    assert ledger.cached("hubs", "big") is None  # the old value would be stale now
    assert ledger.cached("hubs", "fits") == fits
    assert "not caching hubs big" in caplog.text


def test_cache_keys_with_awkward_characters_and_across_instances(open_same: Factory):
    writer = open_same()
    entry = CacheEntry("kind/#?'", AWKWARD, {"ü": "ß"}, T0)
    writer.put_cached(entry)
    reader = open_same()
    assert reader.cached("kind/#?'", AWKWARD) == entry
    assert reader.cached_all("kind/#?'") == {AWKWARD: entry}


def test_cache_entry_refuses_naive_times_and_empty_keys():
    with pytest.raises(ValueError, match="timezone-aware"):
        CacheEntry("hubs", "a", {}, datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="kind and a key"):
        CacheEntry("hubs", "", {}, T0)


# --- leases --------------------------------------------------------------------------------


def test_lease_contention_renewal_expiry_and_release(ledger: Ledger):
    assert ledger.acquire_lease(RID, "timer", 60, T0)
    assert not ledger.acquire_lease(RID, "http", 60, T0 + timedelta(seconds=1))
    assert ledger.acquire_lease(RID.upper(), "timer", 60, T0 + timedelta(seconds=30))  # renewal: until T0+90s
    assert not ledger.acquire_lease(RID, "http", 60, T0 + timedelta(seconds=89))
    assert ledger.acquire_lease(OTHER, "http", 60, T0)  # leases are per resource
    # Expired: taken over, and the old owner is now the one locked out.
    assert ledger.acquire_lease(RID, "http", 60, T0 + timedelta(seconds=90))
    assert not ledger.acquire_lease(RID, "timer", 60, T0 + timedelta(seconds=91))
    # Releasing someone else's lease does nothing.
    ledger.release_lease(RID, "timer")
    assert not ledger.acquire_lease(RID, "timer", 60, T0 + timedelta(seconds=92))
    # Releasing your own frees it at once; releasing a free lease is harmless.
    ledger.release_lease(RID, "http")
    ledger.release_lease(RID, "http")
    assert ledger.acquire_lease(RID, "timer", 60, T0 + timedelta(seconds=93))


def test_lease_rejects_a_non_positive_ttl(ledger: Ledger):
    with pytest.raises(ValueError, match="ttl_seconds"):
        ledger.acquire_lease(RID, "timer", 0, T0)


def test_exactly_one_of_two_racing_sweeps_wins_each_lease(open_same: Factory):
    sweeps = {"timer": open_same(), "http": open_same()}
    for sweep in sweeps.values():  # create tables/schema before the race, so only the lease races
        sweep.release_lease("/warm-up", "nobody")
    rounds = 20
    # Even rounds race for a lease nobody holds (insert-if-absent); odd rounds for one an earlier
    # sweep left to expire (a conditional update: both see the same expired lease).
    for i in range(1, rounds, 2):
        assert sweeps["timer"].acquire_lease(f"{RID}-{i}", "crashed-sweep", 60, T0 - timedelta(hours=1))
    barrier = threading.Barrier(len(sweeps))
    wins: dict[str, list[bool]] = {owner: [] for owner in sweeps}
    errors: list[BaseException] = []

    def race(owner: str, ledger: Ledger) -> None:
        try:
            for i in range(rounds):
                barrier.wait(timeout=30)
                wins[owner].append(ledger.acquire_lease(f"{RID}-{i}", owner, 300, T0))
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=race, args=item) for item in sweeps.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    for i in range(rounds):
        winners = [owner for owner in sweeps if wins[owner][i]]
        assert len(winners) == 1, f"round {i}: winners {winners}"
        loser = next(owner for owner in sweeps if owner not in winners)
        # The store agrees with the race's result: the loser is locked out, the winner renews.
        assert not sweeps[loser].acquire_lease(f"{RID}-{i}", loser, 300, T0)
        assert sweeps[winners[0]].acquire_lease(f"{RID}-{i}", winners[0], 300, T0)


def test_sqlite_sweeps_queued_behind_a_writer_still_see_each_others_lease(tmp_path):
    # SQLite runs each acquire in microseconds, so a free race rarely interleaves. Holding the
    # write lock from a third connection lines both sweeps up behind it: if either had read the
    # lease before taking the lock, both would see it free and both would win (or fail busy).
    path = tmp_path / "ledger.sqlite3"
    sweeps = {"timer": SqliteLedger(path), "http": SqliteLedger(path)}
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    results: dict[str, bool | BaseException] = {}

    def acquire(owner: str) -> None:
        try:
            results[owner] = sweeps[owner].acquire_lease(RID, owner, 300, T0)
        except BaseException as error:
            results[owner] = error

    threads = [threading.Thread(target=acquire, args=(owner,)) for owner in sweeps]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # both are now waiting on the lock
    holder.execute("COMMIT")
    for thread in threads:
        thread.join(timeout=60)
    holder.close()
    for ledger in sweeps.values():
        ledger.close()
    assert sorted(results.values(), key=str) == [False, True], results


# --- construction --------------------------------------------------------------------------


def test_naive_datetimes_are_refused_where_they_are_made():
    with pytest.raises(ValueError, match="timezone-aware"):
        KeyRecord(RID, "p", "s", datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="status"):
        audit("a1", T0, status="finished")


SUBSCRIPTION = {"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001"}


def test_open_ledger_table_without_storage_names_the_setting():
    settings = Settings.from_env({**SUBSCRIPTION, "WATCHDOG_LEDGER": "table"})
    with pytest.raises(ConfigError, match="AzureWebJobsStorage") as error:
        open_ledger(settings)
    assert "WATCHDOG_LEDGER=sqlite" in str(error.value)


def test_open_ledger_sqlite_creates_the_file_and_its_directory(tmp_path):
    path = tmp_path / "deep" / "dir" / "ledger.sqlite3"
    settings = Settings.from_env({**SUBSCRIPTION, "WATCHDOG_LEDGER": "sqlite", "WATCHDOG_SQLITE_PATH": str(path)})
    with open_ledger(settings) as ledger:
        assert isinstance(ledger, SqliteLedger)
        ledger.set_last_scaled(RID, T0)
        assert path.exists() and ledger.last_scaled(RID) == T0
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):  # the with block closed it
        ledger.last_scaled(RID)


def test_a_ledger_in_a_with_block_is_closed_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError, match="sweep failed"):
        with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
            raise RuntimeError("sweep failed")
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        ledger.last_scaled(RID)


def test_open_ledger_table_from_connection_string(azurite_table):
    settings = Settings.from_env({**SUBSCRIPTION, "WATCHDOG_LEDGER": "table", "AzureWebJobsStorage": azurite_table,
                                  "WATCHDOG_LEDGER_TABLE": "open" + uuid.uuid4().hex[:8]})
    with open_ledger(settings) as ledger:
        assert isinstance(ledger, TableLedger)
        ledger.set_last_scaled(RID, T0)
        assert ledger.last_scaled(RID) == T0


def test_open_ledger_table_from_endpoint_uses_the_identity(monkeypatch):
    settings = Settings.from_env({**SUBSCRIPTION, "WATCHDOG_LEDGER": "table",
                                  "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net"})
    ledger = open_ledger(settings)
    try:
        assert isinstance(ledger, TableLedger)
        assert type(ledger._service.credential).__name__ == "DefaultAzureCredential"
        assert ledger._service.url.startswith("https://acct.table.core.windows.net")
    finally:
        ledger.close()


@pytest.mark.parametrize("prefix", ["1abc", "has-dash", "x" * 60])
def test_a_bad_table_prefix_names_its_setting(prefix):
    settings = Settings.from_env({**SUBSCRIPTION, "WATCHDOG_LEDGER": "table", "WATCHDOG_LEDGER_TABLE": prefix,
                                  "AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    with pytest.raises(ConfigError, match="WATCHDOG_LEDGER_TABLE"):
        open_ledger(settings)


def test_a_rotation_record_survives_both_backends_and_another_instance(open_same: Factory):
    """The staged rotation's state machine lives in the generic cache (kind `rotate`, key the
    lower-case resource id): each step's record replaces the last, readable by the next process."""
    from watchdog import rotation as machine
    from watchdog.collect.key_age import record
    from watchdog.remediate.rotate import begin

    first = open_same()
    assert record(first, RID) is None
    started = begin(first, RID, T0)
    assert record(open_same(), RID) == started and started.stage == machine.Stage.TO_SECONDARY
    assert begin(first, RID, T0 + timedelta(hours=1)) == started, "one under way is resumed, not restarted"
    moved = machine.stepped(started, T0 + timedelta(minutes=5), ("p", "s"), {"https://kv.vault.azure.net/secrets/c": "a" * 32})
    first.put_cached(CacheEntry(machine.KIND, RID.lower(), moved.to_payload(), T0 + timedelta(minutes=5)))
    again = record(open_same(), RID.upper())
    assert again == moved and again.stage == machine.Stage.GRACE_SECONDARY
    changed = machine.failed(moved, machine.Pause.KEY_CHANGED, "an operator")
    first.put_cached(CacheEntry(machine.KIND, RID.lower(), changed.to_payload(), T0 + timedelta(minutes=10)))
    assert begin(first, RID, T0 + timedelta(hours=2)).stage == machine.Stage.TO_SECONDARY, \
        "a rotation broken by someone else's key change is started afresh"
