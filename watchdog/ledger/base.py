"""The ledger's contract: what the watchdog remembers between sweeps, and the interface to it.

Two backends implement `Ledger` (table.py for the Function App, sqlite.py for the CLI) and one
contract test suite runs against both. The ledger never holds a key or connection string: only
key fingerprints. All datetimes must be timezone-aware; backends store them as UTC ISO text.
Resource ids are compared case-insensitively (ARM does not keep their casing stable).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from watchdog.models import Severity

ACTION_STATUSES = ("planned", "done", "skipped", "failed", "in-progress")
# A cached payload's JSON text (ASCII) may be at most this long. Table Storage keeps a string
# property in at most 64 KiB of UTF-16, i.e. 32,768 characters; both backends refuse the same.
MAX_CACHED_CHARS = 32_000
FINDING_STATUSES = ("firing", "resolved")


def _require_aware(owner: str, **values: datetime | None) -> None:
    # A naive datetime cannot be compared with the stored (aware) ones; fail where it is made.
    for name, value in values.items():
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{owner}.{name} must be timezone-aware (use datetime.now(timezone.utc))")


def _require_one_of(owner: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{owner}.{name}={value!r}: use one of {', '.join(allowed)}")


@dataclass(frozen=True)
class AuditEntry:
    """One remediation action: what, why, before, after, verified, when. Keyed by `id`:
    recording the same id again (planned -> done) replaces the earlier entry."""

    id: str
    at: datetime
    resource_id: str
    kind: str  # secret-sync, scale
    subject: str  # secret URI, or "capacity"
    reason: str
    status: str  # planned, done, skipped, failed
    before: dict[str, Any] = field(default_factory=dict)  # JSON-able
    after: dict[str, Any] = field(default_factory=dict)  # JSON-able
    verified: bool | None = None
    proof: str = ""
    sweep_id: str = ""

    def __post_init__(self) -> None:
        _require_aware("AuditEntry", at=self.at)
        _require_one_of("AuditEntry", "status", self.status, ACTION_STATUSES)


@dataclass(frozen=True)
class KeyRecord:
    """Fingerprints of a resource's access keys when last listed (change-driven key checks)."""

    resource_id: str
    primary_fp: str
    secondary_fp: str
    seen_at: datetime

    def __post_init__(self) -> None:
        _require_aware("KeyRecord", seen_at=self.seen_at)


@dataclass(frozen=True)
class FindingState:
    """What the ledger knows about a finding across sweeps, keyed by `Finding.fingerprint`."""

    fingerprint: str
    rule: str
    check: str
    severity: Severity
    resource_id: str
    subject: str
    summary: str
    status: str  # firing, resolved
    firing_since: datetime
    last_seen: datetime
    resolved_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(
            "FindingState", firing_since=self.firing_since, last_seen=self.last_seen, resolved_at=self.resolved_at
        )
        _require_one_of("FindingState", "status", self.status, FINDING_STATUSES)


@dataclass(frozen=True)
class NotifyState:
    """Per (target, finding fingerprint): what that target was last told, and whether a
    message is still owed (`pending`: its delivery failed and is retried next sweep)."""

    target: str
    fingerprint: str
    last_state: str  # firing, resolved: the state last *accepted* by the target
    last_notified_at: datetime | None = None
    last_delivery_id: str = ""
    pending: bool = False

    def __post_init__(self) -> None:
        _require_aware("NotifyState", last_notified_at=self.last_notified_at)
        _require_one_of("NotifyState", "last_state", self.last_state, FINDING_STATUSES)


@dataclass(frozen=True)
class CacheEntry:
    """A slow-changing Azure read kept between sweeps and processes (watchdog/collect/cache.py),
    keyed by (`kind`, `key`); keys compare exactly, so callers normalise them (lower-case ids).
    `payload` is JSON-able and must never hold a secret: the cache is stored like every other
    ledger row, readable by whoever reads the storage account."""

    kind: str
    key: str
    payload: Any
    fetched_at: datetime

    def __post_init__(self) -> None:
        _require_aware("CacheEntry", fetched_at=self.fetched_at)
        if not self.kind or not self.key:
            raise ValueError("CacheEntry needs a kind and a key")


class Closing:
    """`with open_ledger(settings) as ledger:` closes the backend however the block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class Ledger(Protocol):
    """State kept between sweeps. Every `put_*`/`set_*` is an upsert. A context manager: leaving
    the `with` block closes it."""

    # --- audit trail -----------------------------------------------------------------------
    def record_action(self, entry: AuditEntry) -> None: ...

    def actions(self, resource_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first (by `at`); all resources when `resource_id` is None."""
        ...

    # --- scaling: cooldowns and scale-in bookkeeping ---------------------------------------
    def last_scaled(self, resource_id: str) -> datetime | None: ...

    def set_last_scaled(self, resource_id: str, when: datetime) -> None: ...

    def low_since(self, resource_id: str) -> datetime | None:
        """When utilisation first went below the scale-in threshold; None = not low now."""
        ...

    def set_low_since(self, resource_id: str, when: datetime | None) -> None:
        """None clears it (utilisation went back above the threshold)."""
        ...

    # --- key fingerprints ------------------------------------------------------------------
    def key_fingerprints(self, resource_id: str) -> KeyRecord | None: ...

    def key_records(self) -> dict[str, KeyRecord]:
        """Every key record by lower-case resource id, in one read (a sweep needs most of them)."""
        ...

    def put_key_fingerprints(self, record: KeyRecord) -> None: ...

    # --- findings and notifications --------------------------------------------------------
    def finding_states(self, open_only: bool = False) -> dict[str, FindingState]:
        """fingerprint -> state, firing and resolved alike; `open_only`: firing ones only (what a
        sweep needs, so its reads do not grow with history)."""
        ...

    def put_finding_state(self, state: FindingState) -> None: ...

    def notify_states(self, target: str, open_only: bool = False) -> dict[str, NotifyState]:
        """fingerprint -> state for one target; `open_only`: those last told firing, or pending."""
        ...

    def prune(self, before: datetime, limit: int) -> int:
        """Deletes at most `limit` rows older than `before`: resolved findings, notification states
        told resolved and not pending, audit entries. Returns how many went (WATCHDOG_RETENTION_DAYS)."""
        ...

    def put_notify_state(self, state: NotifyState) -> None: ...

    # --- cache of slow-changing reads (hubs, diagnostic settings, activity-log marks) -------
    def cached(self, kind: str, key: str) -> CacheEntry | None: ...

    def cached_all(self, kind: str) -> dict[str, CacheEntry]:
        """key -> entry for one kind, in one read (one partition query on Table Storage)."""
        ...

    def put_cached(self, *entries: CacheEntry) -> list[CacheEntry]:
        """Upserts the entries (batched where the backend can) and returns those not kept: a
        payload whose JSON exceeds MAX_CACHED_CHARS is skipped with a warning, and any older
        entry under its key is dropped, since it would be stale."""
        ...

    def drop_cached(self, kind: str, key: str) -> None:
        """Removes the entry; an absent one is fine."""
        ...

    # --- per-resource lease: two overlapping sweeps never both act on one resource ---------
    def acquire_lease(self, resource_id: str, owner: str, ttl_seconds: int, now: datetime) -> bool:
        """True if `owner` now holds the lease until now + ttl: it was free, expired, or
        already `owner`'s (then renewed). False if another owner holds an unexpired lease or
        won a race for it."""
        ...

    def release_lease(self, resource_id: str, owner: str) -> None:
        """Releases the lease only if `owner` holds it; otherwise does nothing."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Ledger: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None: ...
