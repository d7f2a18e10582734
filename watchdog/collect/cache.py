"""Hubs and diagnostic settings kept between sweeps in this process, invalidated by change.

Reading both for every resource costs two ARM reads per resource per sweep (2,000 at 1,000
resources, far past ARM's 25 reads/s refill). They change rarely and every change is an ARM
write that lands in the subscription's activity log, so a warm process re-reads them only for
resources the activity log names since the last sweep (one paged read per subscription), for new
resources, and when an entry is older than MAX_AGE (a slow full reconciliation, in case an event
was missed). A failed activity-log read drops the subscription's entries: correctness first.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from watchdog.models import Diagnostics, EventHandler, Sensitive

MAX_AGE = timedelta(hours=6)
# The activity log can show an event a few minutes after it happened: look back this much more.
OVERLAP = timedelta(minutes=15)
ACTION = "Microsoft.Insights/eventtypes/values/read"


@dataclass(frozen=True)
class Entry:
    handlers: list[tuple[EventHandler, Sensitive]]
    diagnostics: Diagnostics
    read_at: datetime


def changed_resources(monitor: Any, subscription_id: str, since: datetime, until: datetime) -> set[str]:
    """Lower-case ids of the resources with a write in the activity log between the times: the
    resource itself, its hubs, or its diagnostic settings (ids below the resource's)."""
    flt = (f"eventTimestamp ge '{since.isoformat()}' and eventTimestamp le '{until.isoformat()}'")
    out = set()
    for event in monitor.activity_logs.list(filter=flt, select="resourceId,operationName"):
        parts = (event.resource_id or "").lower().split("/")
        # /subscriptions/{s}/resourcegroups/{g}/providers/microsoft.signalrservice/webpubsub/{name}/...
        if len(parts) >= 9 and parts[6] == "microsoft.signalrservice" and parts[7] == "webpubsub":
            out.add("/".join(parts[:9]))
    return out


class ResourceCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._checked: dict[str, datetime] = {}  # subscription -> until when the log was read

    def last_checked(self, subscription_id: str) -> datetime | None:
        with self._lock:
            return self._checked.get(subscription_id.lower())

    def apply_changes(self, subscription_id: str, changed: set[str], until: datetime) -> None:
        with self._lock:
            for rid in changed:
                self._entries.pop(rid, None)
            self._checked[subscription_id.lower()] = until

    def forget_subscription(self, subscription_id: str) -> None:
        prefix = f"/subscriptions/{subscription_id.lower()}/"
        with self._lock:
            for rid in [r for r in self._entries if r.startswith(prefix)]:
                del self._entries[rid]
            self._checked.pop(subscription_id.lower(), None)

    def get(self, resource_id: str, now: datetime) -> Entry | None:
        with self._lock:
            entry = self._entries.get(resource_id.lower())
        return entry if entry is not None and now - entry.read_at < MAX_AGE else None

    def put(self, resource_id: str, entry: Entry) -> None:
        with self._lock:
            self._entries[resource_id.lower()] = entry
