"""Reports and check runs kept in the ledger, so any instance of the app can answer for them.

The HTTP check without `resource=` answers with the timer's latest report (`LATEST`), and a fresh
check started by `POST ?fresh=true` runs in the background (the queue-triggered function) and
keeps its state and report here under its run id. A report is kept whole, observations included
(the status page draws from them), encoded by a closed codec: only the watchdog's own model
classes are rebuilt, and a `Sensitive` value is stored as nothing at all. Its compressed text is
cut into rows a ledger can hold and written before the row that points at them, so a reader never
sees half a report.
"""
from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import json
import re
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from watchdog import consumers, models, models_logs, models_resource
from watchdog.ledger.base import MAX_CACHED_CHARS, CacheEntry, Ledger
from watchdog.models import Report, Sensitive

REPORTS = "report"  # cache kind of the report rows
RUNS = "check-run"  # cache kind of the run states
LATEST = "timer"  # the name the timer sweep keeps its latest report under
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
STATUSES = ("queued", "running", "done", "failed")
# A run not finished by then died with its host (host.json's functionTimeout is 600 s).
ABANDONED_AFTER = timedelta(seconds=660)
KEEP_RUNS = timedelta(days=1)
_PART = MAX_CACHED_CHARS - 100  # base64 is plain ASCII: no JSON escaping can make it longer

_TYPES: dict[str, type] = {
    name: value for module in (models, models_resource, models_logs, consumers) for name, value in vars(module).items()
    if isinstance(value, type) and value.__module__ == module.__name__
    and (dataclasses.is_dataclass(value) or issubclass(value, enum.Enum))
}


def _encode(value: Any) -> Any:
    if isinstance(value, Sensitive):
        return {"$s": None}
    if isinstance(value, enum.Enum):
        if _TYPES.get(type(value).__name__) is not type(value):  # e.g. a notifier's DeliveryStatus: its value
            return _encode(value.value)
        return {"$e": type(value).__name__, "v": value.value}
    if isinstance(value, datetime):
        return {"$d": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$c": type(value).__name__,
                "f": {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}}
    if isinstance(value, tuple):
        return {"$t": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, (set, frozenset)):  # coverage: sources read, scopes read, resources deleted
        return {"$f" if isinstance(value, frozenset) else "$u": [_encode(v) for v in sorted(value, key=repr)]}
    if isinstance(value, Mapping):
        return {"$m": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"a report holds a {type(value).__name__}, which the report codec does not know")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$s" in value:
        return Sensitive("")  # never stored: rendering shows "<redacted>" either way
    if "$e" in value:
        return _type(value["$e"])(value["v"])
    if "$d" in value:
        return datetime.fromisoformat(value["$d"])
    if "$c" in value:
        return _type(value["$c"])(**{k: _decode(v) for k, v in value["f"].items()})
    if "$t" in value:
        return tuple(_decode(v) for v in value["$t"])
    if "$f" in value:
        return frozenset(_decode(v) for v in value["$f"])
    if "$u" in value:
        return {_decode(v) for v in value["$u"]}
    if "$m" in value:
        return {_decode(k): _decode(v) for k, v in value["$m"]}
    raise ValueError("a stored report holds an object the report codec did not write")


def _type(name: str) -> type:
    try:
        return _TYPES[name]
    except KeyError:
        raise ValueError(f"a stored report names {name!r}, not one of the watchdog's model classes") from None


def dumps(report: Report) -> str:
    return json.dumps(_encode(report), separators=(",", ":"))


def loads(text: str) -> Report:
    report = _decode(json.loads(text))
    if not isinstance(report, Report):
        raise ValueError("the stored document is not a report")
    return report


def save_report(ledger: Ledger, name: str, report: Report, now: datetime) -> None:
    """Keep `report` under `name`, replacing the one kept before (whose rows are then dropped)."""
    data = base64.b64encode(zlib.compress(dumps(report).encode(), 6)).decode("ascii")
    generation = uuid.uuid4().hex
    parts = [data[i:i + _PART] for i in range(0, len(data), _PART)] or [""]
    previous = ledger.cached(REPORTS, name)
    ledger.put_cached(*(CacheEntry(REPORTS, f"{name}/{generation}/{i}", part, now) for i, part in enumerate(parts)))
    ledger.put_cached(CacheEntry(REPORTS, name, {
        "generation": generation, "parts": len(parts), "sha256": hashlib.sha256(data.encode()).hexdigest(),
        "finished_at": (report.finished_at or report.started_at).isoformat()}, now))
    if previous is not None:
        for i in range(int(previous.payload.get("parts", 0))):
            ledger.drop_cached(REPORTS, f"{name}/{previous.payload['generation']}/{i}")


def load_report(ledger: Ledger, name: str) -> Report | None:
    """The report kept under `name`, or None. A report replaced while it was read is read again."""
    for _ in range(3):
        head = ledger.cached(REPORTS, name)
        if head is None:
            return None
        rows = [ledger.cached(REPORTS, f"{name}/{head.payload['generation']}/{i}") for i in range(head.payload["parts"])]
        if any(row is None for row in rows):
            continue
        data = "".join(row.payload for row in rows if row is not None)
        if hashlib.sha256(data.encode()).hexdigest() != head.payload["sha256"]:
            continue
        return loads(zlib.decompress(base64.b64decode(data)).decode())
    raise RuntimeError(f"the report kept as {name!r} kept changing while it was read")


@dataclass(frozen=True)
class Run:
    """A background check: who may poll it (its id), what it runs (mode) and how far it got."""

    id: str
    status: str
    mode: str
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str = ""  # why it failed: an exception type and a scrubbed message, never a secret

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "mode": self.mode, "reason": self.reason,
                **{k: (v.isoformat() if v else None) for k, v in (
                    ("requested_at", self.requested_at), ("started_at", self.started_at),
                    ("finished_at", self.finished_at))}}

    def effective_status(self, now: datetime) -> str:
        if self.status in ("queued", "running") and now - self.requested_at > ABANDONED_AFTER:
            return "failed"
        return self.status


def new_run(ledger: Ledger, mode: str, now: datetime) -> Run:
    """Records a queued run, and forgets runs (and their reports) older than KEEP_RUNS."""
    for key, entry in ledger.cached_all(RUNS).items():
        if now - entry.fetched_at > KEEP_RUNS:
            drop_report(ledger, f"run/{key}")
            ledger.drop_cached(RUNS, key)
    run = Run(id=uuid.uuid4().hex, status="queued", mode=mode, requested_at=now)
    put_run(ledger, run, now)
    return run


def put_run(ledger: Ledger, run: Run, now: datetime) -> None:
    ledger.put_cached(CacheEntry(RUNS, run.id, run.payload(), now))


def get_run(ledger: Ledger, run_id: str) -> Run | None:
    entry = ledger.cached(RUNS, run_id)
    if entry is None:
        return None
    doc = dict(entry.payload)
    times = {k: datetime.fromisoformat(doc[k]) if doc.get(k) else None
             for k in ("requested_at", "started_at", "finished_at")}
    return Run(id=doc["id"], status=doc["status"], mode=doc["mode"], reason=doc.get("reason", ""),
               requested_at=times["requested_at"] or entry.fetched_at, started_at=times["started_at"],
               finished_at=times["finished_at"])


def drop_report(ledger: Ledger, name: str) -> None:
    head = ledger.cached(REPORTS, name)
    if head is None:
        return
    for i in range(int(head.payload.get("parts", 0))):
        ledger.drop_cached(REPORTS, f"{name}/{head.payload['generation']}/{i}")
    ledger.drop_cached(REPORTS, name)
