"""Hubs and diagnostic settings kept between sweeps, in the ledger, invalidated by change.

Reading both for every resource costs two ARM reads per resource per sweep (2,000 at 1,000
resources, far past ARM's 25 reads/s refill). They change rarely and every change is an ARM
write that lands in the subscription's activity log, so a sweep re-reads them only for resources
the activity log names since the last check (one paged read per subscription), for new
resources, and when an entry is older than MAX_AGE (a slow full reconciliation, in case an event
was missed).

Where it lives: in the ledger when the sweep has one (the CLI and Functions always do), so a fresh
process (each CLI run, each Functions cold start or scale-out instance) starts warm; otherwise in
this process's memory. The activity log's read position per subscription (the "mark") is kept in
the same place, so the lookback starts where the last sweep of any process stopped.

Secrets: an event handler's URL template may carry a `?code=` function key or a `sig=`, and the
probe must call the full template as the service does. The ledger therefore keeps only what the
models keep (the redacted URL, host, events, auth). A template equal to its redacted URL holds
nothing more and is rebuilt from it; a resource with any other template gets its hubs re-read
every sweep (one ARM read; its diagnostic settings stay cached). The in-memory cache (no ledger)
keeps full templates, as the process holds them during a sweep anyway.

If the activity log cannot be read, the subscription's record restarts: every cached entry of it
is ignored and re-read this sweep (correctness first), and the next sweep reads the log again.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from watchdog.collect import proofs, replicas
from watchdog.collect.calls import Calls
from watchdog.ledger.base import CacheEntry, Ledger
from watchdog.ledger.codec import from_iso, to_iso
from watchdog.models import Sensitive
from watchdog.models_resource import Diagnostics, EventHandler, Resource

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

MAX_AGE = timedelta(hours=6)
# The activity log can show an event a few minutes after it happened: look back this much more.
OVERLAP = timedelta(minutes=15)
# An entry read this long after a change's event time already holds the change; closer than that
# (clocks differ, an operation's end is logged after it took effect) it is read again.
CLOCK_MARGIN = timedelta(minutes=1)
ACTION = "Microsoft.Insights/eventtypes/values/read"
RESOURCE_KIND = "webpubsub-config"  # per lower-case resource id: handlers and diagnostics
MARK_KIND = "activity-log"  # per subscription: {"started": when this record began}, fetched_at = read up to

Handlers = list[tuple[EventHandler, Sensitive]]


@dataclass(frozen=True)
class Entry:
    """`handlers` None: the hubs must be re-read (a template holds more than the ledger may keep)."""

    handlers: Handlers | None
    diagnostics: Diagnostics
    read_at: datetime
    hubs: tuple[str, ...] | None = None  # every hub's name; None: not known (an entry stored before they were)
    replicas: tuple[Resource, ...] | None = None  # a Premium resource's replicas; None: not read


def changed_resources(monitor: Any, subscription_id: str, since: datetime, until: datetime) -> dict[str, datetime]:
    """Lower-case id -> latest event time of the resources with an event in the activity log
    between the times: the resource itself, its hubs, or its diagnostic settings (ids below it).
    An event without a time counts as at `until` (the latest it can be)."""
    flt = (f"eventTimestamp ge '{since.isoformat()}' and eventTimestamp le '{until.isoformat()}'")
    out: dict[str, datetime] = {}
    for event in monitor.activity_logs.list(filter=flt, select="resourceId,operationName,eventTimestamp"):
        parts = (event.resource_id or "").lower().split("/")
        # /subscriptions/{s}/resourcegroups/{g}/providers/microsoft.signalrservice/webpubsub/{name}/...
        if len(parts) >= 9 and parts[6] == "microsoft.signalrservice" and parts[7] == "webpubsub":
            rid, at = "/".join(parts[:9]), event.event_timestamp or until
            out[rid] = max(at, out.get(rid, at))
    return out


# -- what the ledger keeps ---------------------------------------------------------------------


def to_payload(entry: Entry) -> dict[str, Any]:
    """JSON for the ledger: never a template beyond its redacted URL."""
    handlers = entry.handlers
    storable = handlers is not None and all(t.reveal() == h.url_redacted for h, t in handlers)
    return {
        "diagnostics": {"workspace_ids": list(entry.diagnostics.workspace_ids),
                        "log_categories": list(entry.diagnostics.log_categories)},
        "handlers": [{"hub": h.hub, "url": h.url_redacted, "host": h.host, "pattern": h.user_event_pattern,
                      "events": list(h.system_events), "auth": h.auth_type} for h, _ in handlers or ()]
        if storable else None,
        "hubs": None if entry.hubs is None else list(entry.hubs),
        "replicas": None if entry.replicas is None else replicas.to_payload(entry.replicas),
    }


def from_payload(payload: Mapping[str, Any], read_at: datetime) -> Entry:
    diagnostics = payload["diagnostics"]
    stored = payload["handlers"]
    handlers = None if stored is None else [
        (EventHandler(hub=h["hub"], url_redacted=h["url"], host=h["host"], user_event_pattern=h["pattern"],
                      system_events=tuple(h["events"]), auth_type=h["auth"]), Sensitive(h["url"]))
        for h in stored]
    hubs, stored_replicas = payload.get("hubs"), payload.get("replicas")
    return Entry(handlers, Diagnostics(workspace_ids=tuple(diagnostics["workspace_ids"]),
                                       log_categories=tuple(diagnostics["log_categories"])), read_at,
                 None if hubs is None else tuple(hubs),
                 None if stored_replicas is None else replicas.from_payload(stored_replicas))


# -- where entries live ------------------------------------------------------------------------


class MemoryStore:
    """The ledger's cache methods over a dict, for sweeps without a ledger (payloads as given)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], CacheEntry] = {}

    def cached(self, kind: str, key: str) -> CacheEntry | None:
        with self._lock:
            return self._entries.get((kind, key))

    def cached_all(self, kind: str) -> dict[str, CacheEntry]:
        with self._lock:
            return {key: e for (k, key), e in self._entries.items() if k == kind}

    def put_cached(self, *entries: CacheEntry) -> list[CacheEntry]:
        with self._lock:
            self._entries.update({(e.kind, e.key): e for e in entries})
        return []

    def drop_cached(self, kind: str, key: str) -> None:
        with self._lock:
            self._entries.pop((kind, key), None)


class ResourceCache:
    """Entries and activity-log marks, in the ledger if given, else in memory."""

    def __init__(self, ledger: Ledger | None = None) -> None:
        self._store: Ledger | MemoryStore = ledger if ledger is not None else MemoryStore()
        self._in_memory = ledger is None

    def last_checked(self, subscription_id: str) -> datetime | None:
        mark = self._store.cached(MARK_KIND, subscription_id.lower())
        return None if mark is None else mark.fetched_at

    def restart(self, subscription_id: str, now: datetime) -> None:
        """Begin the subscription's record at `now`: entries read before are ignored from here on."""
        self._store.put_cached(CacheEntry(MARK_KIND, subscription_id.lower(), {"started": to_iso(now)}, now))

    def apply_changes(self, subscription_id: str, changed: Mapping[str, datetime], until: datetime) -> None:
        """Drop the entries of resources changed since they were read (`changed`: id -> event time),
        then move the mark: in that order, so a crash in between costs a re-read, never a missed
        change. The lookback overlaps the last one, so most changes are seen twice; an entry read
        well after the event is kept the second time."""
        for rid, at in changed.items():
            entry = self._store.cached(RESOURCE_KIND, rid.lower())
            if entry is not None and entry.fetched_at <= at + CLOCK_MARGIN:
                self._store.drop_cached(RESOURCE_KIND, rid.lower())
        mark = self._store.cached(MARK_KIND, subscription_id.lower())
        if mark is None:
            self.restart(subscription_id, until)
        else:
            self._store.put_cached(CacheEntry(MARK_KIND, mark.key, mark.payload, until))

    def load(self, resource_ids: Iterable[str], now: datetime) -> dict[str, Entry]:
        """Usable entries of these (lower-case) ids: read since their subscription's record
        started and younger than MAX_AGE. One read of each kind, whatever the number of ids."""
        started = {sub: from_iso(mark.payload["started"]) for sub, mark in self._store.cached_all(MARK_KIND).items()}
        stored = self._store.cached_all(RESOURCE_KIND)
        out = {}
        for rid in resource_ids:
            item = stored.get(rid)
            begun = started.get(rid.split("/")[2]) if rid.count("/") >= 2 else None
            if item is None or begun is None or item.fetched_at < begun or now - item.fetched_at >= MAX_AGE:
                continue
            out[rid] = item.payload if self._in_memory else from_payload(item.payload, item.fetched_at)
        return out

    def put(self, entries: Mapping[str, Entry]) -> None:
        """Keep freshly read entries, keyed by lower-case resource id (one batched write)."""
        self._store.put_cached(*(CacheEntry(RESOURCE_KIND, rid, entry if self._in_memory else to_payload(entry),
                                            entry.read_at) for rid, entry in entries.items()))


Reads = Mapping[str, "Future[dict[str, datetime] | None]"]  # by lower-case subscription id


def read_changes(calls: Calls, clients: AzureClients, cache: ResourceCache, subscriptions: Iterable[str],
                 now: datetime) -> dict[str, Future[dict[str, datetime] | None]]:
    """One activity-log read per subscription with a record, from its mark to `now`. They need no
    inventory, so a sweep starts them before discovery and they run beside it."""
    since = {sub: checked for sub in subscriptions if (checked := cache.last_checked(sub)) is not None}
    return {sub: calls.submit(lambda sub=sub: changed_resources(clients.monitor(sub), sub, since[sub] - OVERLAP, now),
                              "activity-log", subject=f"/subscriptions/{sub}", action=ACTION)
            for sub in since}


def refresh(cache: ResourceCache, ledger: Ledger | None, resources: Iterable[Resource], reads: Reads,
            now: datetime) -> None:
    """Drop cached hubs/diagnostics, and the ledger's secret proofs, of resources the activity log
    (`reads`: read_changes, started beside discovery for every subscription in scope) shows changed
    (a write, a regenerateKey) since the last check by any process. A subscription without a read
    (no record yet) or whose read failed starts its record over."""
    subs = sorted({r.subscription_id for r in resources})
    for sub in subs:
        changed = reads[sub].result() if sub in reads else None
        if changed is None:  # no record yet, or the log could not be read: nothing cached is trusted
            cache.restart(sub, now)
        else:
            if ledger is not None:  # before the mark moves past the events (as apply_changes does)
                proofs.drop_changed(ledger, changed, CLOCK_MARGIN)
            cache.apply_changes(sub, changed, now)
