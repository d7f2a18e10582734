"""SQLite ledger: one local file, the CLI's default. Safe for several threads and processes."""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

from watchdog.ledger.base import AuditEntry, CacheEntry, Closing, FindingState, KeyRecord, NotifyState
from watchdog.ledger.codec import cache_entry, cache_text, from_iso, resource_key, to_iso, to_iso_or_none
from watchdog.models import Severity

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id TEXT PRIMARY KEY, at TEXT NOT NULL, resource_key TEXT NOT NULL, resource_id TEXT NOT NULL,
    kind TEXT NOT NULL, subject TEXT NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL,
    before TEXT NOT NULL, after TEXT NOT NULL, verified INTEGER, proof TEXT NOT NULL,
    sweep_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_resource ON audit (resource_key, at);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
CREATE TABLE IF NOT EXISTS scaling (
    resource_key TEXT PRIMARY KEY, last_scaled TEXT, low_since TEXT
);
CREATE TABLE IF NOT EXISTS keys (
    resource_key TEXT PRIMARY KEY, resource_id TEXT NOT NULL,
    primary_fp TEXT NOT NULL, secondary_fp TEXT NOT NULL, seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS findings (
    fingerprint TEXT PRIMARY KEY, rule TEXT NOT NULL, check_name TEXT NOT NULL,
    severity TEXT NOT NULL, resource_id TEXT NOT NULL, subject TEXT NOT NULL,
    summary TEXT NOT NULL, status TEXT NOT NULL, firing_since TEXT NOT NULL,
    last_seen TEXT NOT NULL, resolved_at TEXT
);
CREATE TABLE IF NOT EXISTS notify (
    target TEXT NOT NULL, fingerprint TEXT NOT NULL, last_state TEXT NOT NULL,
    last_notified_at TEXT, last_delivery_id TEXT NOT NULL, pending INTEGER NOT NULL,
    PRIMARY KEY (target, fingerprint)
);
CREATE TABLE IF NOT EXISTS cache (
    kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, fetched_at TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS leases (
    resource_key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at TEXT NOT NULL
);
"""


class SqliteLedger(Closing):
    def __init__(self, path: str | Path, busy_seconds: float = 5) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): single statements are atomic on their own, and the
        # lease takes an explicit BEGIN IMMEDIATE. The timeout waits out other processes' locks,
        # briefly (WATCHDOG_SQLITE_BUSY_SECONDS): a locked file costs seconds of the sweep's budget,
        # then the ledger counts as unavailable (a critical blind spot), not 30 s per call.
        self._db = sqlite3.connect(path, timeout=busy_seconds, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()  # one connection, shared by the sweep's threads
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # --- audit trail -----------------------------------------------------------------------
    def record_action(self, entry: AuditEntry) -> None:
        verified = None if entry.verified is None else int(entry.verified)
        self._run(
            "INSERT OR REPLACE INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (entry.id, to_iso(entry.at), resource_key(entry.resource_id), entry.resource_id, entry.kind,
             entry.subject, entry.reason, entry.status, json.dumps(entry.before), json.dumps(entry.after),
             verified, entry.proof, entry.sweep_id),
        )

    def actions(self, resource_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        columns = ("id, at, resource_id, kind, subject, reason, status, before, after, verified, "
                   "proof, sweep_id")
        if resource_id is None:
            rows = self._run(f"SELECT {columns} FROM audit ORDER BY at DESC, id DESC LIMIT ?", (limit,))
        else:
            rows = self._run(
                f"SELECT {columns} FROM audit WHERE resource_key = ? ORDER BY at DESC, id DESC LIMIT ?",
                (resource_key(resource_id), limit),
            )
        return [
            AuditEntry(id=r[0], at=from_iso(r[1]), resource_id=r[2], kind=r[3], subject=r[4], reason=r[5],
                       status=r[6], before=json.loads(r[7]), after=json.loads(r[8]),
                       verified=None if r[9] is None else bool(r[9]), proof=r[10], sweep_id=r[11])
            for r in rows
        ]

    # --- scaling ---------------------------------------------------------------------------
    def _scaling(self, resource_id: str, column: str) -> datetime | None:
        rows = self._run(f"SELECT {column} FROM scaling WHERE resource_key = ?", (resource_key(resource_id),))
        return from_iso(rows[0][0]) if rows else None

    def _set_scaling(self, resource_id: str, column: str, when: datetime | None) -> None:
        self._run(
            f"INSERT INTO scaling (resource_key, {column}) VALUES (?, ?) "
            f"ON CONFLICT (resource_key) DO UPDATE SET {column} = excluded.{column}",
            (resource_key(resource_id), to_iso_or_none(when)),
        )

    def last_scaled(self, resource_id: str) -> datetime | None:
        return self._scaling(resource_id, "last_scaled")

    def set_last_scaled(self, resource_id: str, when: datetime) -> None:
        self._set_scaling(resource_id, "last_scaled", when)

    def low_since(self, resource_id: str) -> datetime | None:
        return self._scaling(resource_id, "low_since")

    def set_low_since(self, resource_id: str, when: datetime | None) -> None:
        self._set_scaling(resource_id, "low_since", when)

    # --- key fingerprints ------------------------------------------------------------------
    def key_fingerprints(self, resource_id: str) -> KeyRecord | None:
        rows = self._run(
            "SELECT resource_id, primary_fp, secondary_fp, seen_at FROM keys WHERE resource_key = ?",
            (resource_key(resource_id),),
        )
        if not rows:
            return None
        rid, primary, secondary, seen_at = rows[0]
        return KeyRecord(resource_id=rid, primary_fp=primary, secondary_fp=secondary, seen_at=from_iso(seen_at))

    def key_records(self) -> dict[str, KeyRecord]:
        rows = self._run("SELECT resource_key, resource_id, primary_fp, secondary_fp, seen_at FROM keys", ())
        return {key: KeyRecord(resource_id=rid, primary_fp=primary, secondary_fp=secondary, seen_at=from_iso(seen_at))
                for key, rid, primary, secondary, seen_at in rows}

    def put_key_fingerprints(self, record: KeyRecord) -> None:
        self._run(
            "INSERT OR REPLACE INTO keys VALUES (?,?,?,?,?)",
            (resource_key(record.resource_id), record.resource_id, record.primary_fp, record.secondary_fp,
             to_iso(record.seen_at)),
        )

    # --- findings and notifications --------------------------------------------------------
    def finding_states(self, open_only: bool = False) -> dict[str, FindingState]:
        rows = self._run(
            "SELECT fingerprint, rule, check_name, severity, resource_id, subject, summary, status, "
            "firing_since, last_seen, resolved_at FROM findings" + (" WHERE status = 'firing'" if open_only else "")
        )
        return {
            r[0]: FindingState(fingerprint=r[0], rule=r[1], check=r[2], severity=Severity.parse(r[3]),
                               resource_id=r[4], subject=r[5], summary=r[6], status=r[7],
                               firing_since=from_iso(r[8]), last_seen=from_iso(r[9]),
                               resolved_at=from_iso(r[10]))
            for r in rows
        }

    def put_finding_state(self, state: FindingState) -> None:
        self._run(
            "INSERT OR REPLACE INTO findings VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (state.fingerprint, state.rule, state.check, str(state.severity), state.resource_id, state.subject,
             state.summary, state.status, to_iso(state.firing_since), to_iso(state.last_seen),
             to_iso_or_none(state.resolved_at)),
        )

    def notify_states(self, target: str, open_only: bool = False) -> dict[str, NotifyState]:
        rows = self._run(
            "SELECT fingerprint, last_state, last_notified_at, last_delivery_id, pending "
            "FROM notify WHERE target = ?" + (" AND (last_state = 'firing' OR pending = 1)" if open_only else ""),
            (target,),
        )
        return {
            r[0]: NotifyState(target=target, fingerprint=r[0], last_state=r[1], last_notified_at=from_iso(r[2]),
                              last_delivery_id=r[3], pending=bool(r[4]))
            for r in rows
        }

    def put_notify_state(self, state: NotifyState) -> None:
        self._run(
            "INSERT OR REPLACE INTO notify VALUES (?,?,?,?,?,?)",
            (state.target, state.fingerprint, state.last_state, to_iso_or_none(state.last_notified_at),
             state.last_delivery_id, int(state.pending)),
        )

    # --- cache ----------------------------------------------------------------------------
    def cached(self, kind: str, key: str) -> CacheEntry | None:
        rows = self._run("SELECT payload, fetched_at FROM cache WHERE kind = ? AND key = ?", (kind, key))
        return cache_entry(kind, key, *rows[0]) if rows else None

    def cached_all(self, kind: str) -> dict[str, CacheEntry]:
        rows = self._run("SELECT key, payload, fetched_at FROM cache WHERE kind = ?", (kind,))
        return {key: cache_entry(kind, key, text, at) for key, text, at in rows}

    def put_cached(self, *entries: CacheEntry) -> list[CacheEntry]:
        skipped = []
        with self._lock:
            # One transaction: a thousand upserts commit once instead of a thousand times.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for entry in entries:
                    text = cache_text(entry)
                    if text is None:
                        skipped.append(entry)
                        self._db.execute("DELETE FROM cache WHERE kind = ? AND key = ?", (entry.kind, entry.key))
                    else:
                        self._db.execute("INSERT OR REPLACE INTO cache VALUES (?,?,?,?)",
                                         (entry.kind, entry.key, text, to_iso(entry.fetched_at)))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return skipped

    def drop_cached(self, kind: str, key: str) -> None:
        self._run("DELETE FROM cache WHERE kind = ? AND key = ?", (kind, key))

    # --- leases ----------------------------------------------------------------------------
    def acquire_lease(self, resource_id: str, owner: str, ttl_seconds: int, now: datetime) -> bool:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        key = resource_key(resource_id)
        with self._lock:
            # BEGIN IMMEDIATE takes the write lock before reading, so another process cannot
            # read the same free lease between our check and our write.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT owner, expires_at FROM leases WHERE resource_key = ?", (key,)).fetchone()
                if row is not None and row[0] != owner and from_iso(row[1]) > now:
                    self._db.execute("ROLLBACK")
                    return False
                self._db.execute(
                    "INSERT OR REPLACE INTO leases VALUES (?,?,?)",
                    (key, owner, to_iso(now + timedelta(seconds=ttl_seconds))),
                )
                self._db.execute("COMMIT")
                return True
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def prune(self, before: datetime, limit: int) -> int:
        cutoff, left = to_iso(before), limit
        for table, where in (("findings", "status = 'resolved' AND resolved_at < ?"),
                             ("notify", "last_state = 'resolved' AND pending = 0 AND last_notified_at < ?"),
                             ("audit", "at < ?")):
            if left <= 0:
                break
            with self._lock:
                gone = self._db.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where} "
                                        "LIMIT ?)", (cutoff, left)).rowcount
            left -= gone
        return limit - left

    def release_lease(self, resource_id: str, owner: str) -> None:
        self._run("DELETE FROM leases WHERE resource_key = ? AND owner = ?", (resource_key(resource_id), owner))
