"""Key age for rotation: when a key of the resource was last regenerated, and its rotation record.

Read only while rotation is not off, for resources with bound secrets (nothing to rotate into
otherwise). The ledger's record comes first: an active rotation, or one finished within the
limit, needs no activity-log read. Otherwise one activity-log read per resource
(`resourceUri eq` the resource, 90 days, the log's retention) finds the last regenerateKey.
Nothing found in either place: the age is unknown, reported by the rotation rule, never guessed.
"""
from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Mapping

from watchdog import rotation
from watchdog.models import BoundSecret
from watchdog.models_resource import Resource
from watchdog.rotation import Observed, Rotation
from watchdog.tags import rotate_days

if TYPE_CHECKING:
    from watchdog.azure import AzureClients
    from watchdog.collect.calls import Calls
    from watchdog.ledger.base import Ledger
    from watchdog.settings import Settings

SOURCE = "key-age"
ACTION = "Microsoft.Insights/eventtypes/values/read"
REGENERATE = "microsoft.signalrservice/webpubsub/regeneratekey/action"
# For blind_spots._SOURCES: what a failed read hides, and the right that fixes a 403.
BLIND_SPOT = ("when a key was last regenerated, so no rotation is started or judged due",
              f"{ACTION} on the subscription (in the watchdog's custom role; Reader has it)")


def record(ledger: Ledger | None, resource_id: str) -> Rotation | None:
    entry = ledger.cached(rotation.KIND, resource_id.lower()) if ledger is not None else None
    return Rotation.from_payload(resource_id, entry.payload) if entry is not None else None


def last_regenerate_key(monitor: Any, resource_id: str, now: datetime) -> datetime | None:
    """The latest regenerateKey on the resource in the activity log's retention, or None."""
    flt = (f"eventTimestamp ge '{(now - rotation.RETENTION).isoformat()}' and "
           f"eventTimestamp le '{now.isoformat()}' and resourceUri eq '{resource_id}'")
    latest: datetime | None = None
    for event in monitor.activity_logs.list(filter=flt, select="operationName,eventTimestamp,status"):
        name = getattr(getattr(event, "operation_name", None), "value", "") or ""
        status = getattr(getattr(event, "status", None), "value", "") or "Succeeded"
        if name.lower() == REGENERATE and status.lower() == "succeeded" and event.event_timestamp is not None:
            latest = max(latest or event.event_timestamp, event.event_timestamp)
    return latest


def submit(calls: Calls, clients: AzureClients, settings: Settings, by_id: Mapping[str, Resource],
           secrets: Mapping[str, list[BoundSecret]], ledger: Ledger | None, now: datetime
           ) -> dict[str, Future[Observed | None]]:
    if settings.rotate == "off":
        return {}
    out: dict[str, Future[Observed | None]] = {}
    for rid, r in by_id.items():
        if not secrets.get(rid):
            continue
        kept = record(ledger, r.id)
        limit = timedelta(days=rotate_days(r.tags, settings.rotate_days) or 0)
        if kept is not None and (kept.active or (kept.finished_at and now - kept.finished_at < limit)):
            out[rid] = _done(Observed(kept.finished_at, kept))
            continue
        out[rid] = calls.submit(lambda r=r, kept=kept: Observed(
            last_regenerate_key(clients.monitor(r.subscription_id), r.id, now), kept),
            SOURCE, resource_id=r.id, action=ACTION)
    return out


def fold(futures: Mapping[str, Future[Observed | None]]) -> dict[str, Observed]:
    return {rid: value for rid, f in futures.items() if (value := f.result()) is not None}


def _done(value: Observed) -> Future[Observed | None]:
    future: Future[Observed | None] = Future()
    future.set_result(value)
    return future
