"""What the ledger says about a delivered event, before anything is swept.

Event Grid delivers at least once and not in order, and one change can raise several events
(a regenerateKey, the write that follows). Three records in the ledger's cache make that harmless:
- `event-seen` (key: event id): handled before, so a replay or duplicate does nothing;
- `event-check` (key: resource id or secret URI, payload: when the last event check *started*):
  an event that happened before a check started is covered by it (a burst within the few seconds
  a check takes, or an old event delivered late, becomes no second check);
- the audit trail: the watchdog's own secret writes (the version it wrote) and scales (its done
  scale of that resource shortly before the event) are not reasons to check again.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from watchdog.checks.capacity import SCALE
from watchdog.checks.key_drift import SECRET_SYNC
from watchdog.events import types
from watchdog.events.parse import RESOURCE, SECRET, Change
from watchdog.ledger.base import AuditEntry, CacheEntry, Ledger

SEEN = "event-seen"
CHECKED = "event-check"
# A scale's audit entry is stamped when its sweep started; ARM raises the write event when the
# operation completes, within the operation timeout. Writes inside this window after the
# watchdog's own scale are its own.
OWN_SCALE_WINDOW = timedelta(minutes=10)
AUDIT_DEPTH = 200  # newest audit entries searched for the watchdog's own change


def seen(ledger: Ledger, event_id: str) -> bool:
    return ledger.cached(SEEN, event_id) is not None


def last_check(ledger: Ledger, target: str) -> datetime | None:
    entry = ledger.cached(CHECKED, target.lower())
    return entry.fetched_at if entry else None


def covered(ledger: Ledger, change: Change) -> datetime | None:
    """When a check of the change's target started at or after the change happened, else None."""
    started = last_check(ledger, change.target)
    return started if started is not None and started >= change.at else None


def own_action(ledger: Ledger, change: Change) -> AuditEntry | None:
    """The watchdog's own audited action this event reports, if any."""
    for entry in ledger.actions(None, AUDIT_DEPTH):
        if entry.status != "done":
            continue
        if change.kind == SECRET and entry.kind == SECRET_SYNC and change.version \
                and entry.subject.rstrip("/").lower() == change.target.lower() \
                and entry.after.get("version") == change.version:
            return entry
        if change.kind == RESOURCE and change.operation.lower() == types.WRITE.lower() \
                and entry.kind.startswith(SCALE) and entry.resource_id.lower() == change.target \
                and entry.at <= change.at <= entry.at + OWN_SCALE_WINDOW:
            return entry
    return None


def mark_seen(ledger: Ledger, change_id: str, target: str, decision: str, now: datetime) -> None:
    ledger.put_cached(CacheEntry(SEEN, change_id, {"target": target, "decision": decision}, now))


def mark_checked(ledger: Ledger, targets: tuple[str, ...], started: datetime) -> None:
    ledger.put_cached(*(CacheEntry(CHECKED, t.lower(), {"started": started.isoformat()}, started) for t in targets))


def unmark_checked(ledger: Ledger, targets: tuple[str, ...]) -> None:
    for t in targets:
        ledger.drop_cached(CHECKED, t.lower())


def lease_key(target: str) -> str:
    return f"event-check:{target.lower()}"
