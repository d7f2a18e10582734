"""Event-handler failures in the resource logs: one query per workspace per sweep.

The tables have no Hub column and no error-kind column: failures appear only in Message text
(AZURE-FACTS "Resource logs"), so they are parsed here. URLs inside messages are redacted.
"""
from __future__ import annotations

import json
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from watchdog import clock
from watchdog.collect import log_signals
from watchdog.collect.calls import Calls
from watchdog.collect.errors import brief
from watchdog.models import Diagnostics, ErrorKind, EventHandler, HandlerLogError, ObservationError
from watchdog.models_logs import LogSignals
from watchdog.permissions import LOG_TABLES
from watchdog.redact import redact_url

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

ACTION = "Microsoft.OperationalInsights/workspaces/query/read"
QUERY_CONCURRENCY = 5  # Log Analytics allows 5 concurrent queries per user
NARROW_MAX = 10  # a sweep of at most this many resources filters the query to them
UNEXPECTED = "HttpHandlerUnexpectedResponse"
MISSING_ORIGIN = "AbuseProtectionResponseMissingAllowedOrigin"
INVALID_STATUS = "AbuseProtectionResponseInvalidStatusCode"
UNKNOWN_HUB = "(unknown)"

# Only rows that can be handler failures leave the workspace; grouping happens here, where the
# Message text is parsed.
QUERY = (
    f"union isfuzzy=true {', '.join(LOG_TABLES)}\n"
    '| where Message has "status code" or Message has "Abuse protection"\n'
    "| project TimeGenerated, _ResourceId, Message"
)

_UNEXPECTED = re.compile(
    r"hub:(?P<hub>[^,\s]+),\s*event:(?P<event>[^,\s]+).*?unexpected response with status code (?P<status>\d{3})",
    re.I | re.S)
_ORIGIN = re.compile(r"Abuse protection for '(?P<url>[^']*)' missing allowed origins", re.I)
_ABUSE_STATUS = re.compile(r"Abuse protection for '(?P<url>[^']*)' failed: (?P<status>\d{3})", re.I)


@dataclass(frozen=True)
class ParsedFailure:
    hub: str
    event: str
    status: str
    kind: str
    url: str | None = None  # redacted handler URL (abuse-protection messages name it, not the hub)


def parse_message(message: str) -> ParsedFailure | None:
    """One Message → the failure it reports, or None when it reports none."""
    if m := _UNEXPECTED.search(message):
        return ParsedFailure(m["hub"], m["event"], m["status"], UNEXPECTED)
    if m := _ORIGIN.search(message):
        return ParsedFailure(UNKNOWN_HUB, "validate", "missing-allowed-origin", MISSING_ORIGIN,
                             redact_url(m["url"]))
    if m := _ABUSE_STATUS.search(message):
        return ParsedFailure(UNKNOWN_HUB, "validate", m["status"], INVALID_STATUS, redact_url(m["url"]))
    return None


def _hub_of(url: str | None, handlers: Sequence[EventHandler]) -> str:
    """Abuse-protection messages name the handler URL, not the hub: find the hub whose handler
    has that URL. Templates hold {event}/{hub} placeholders, which the message has filled in."""
    if url is None:
        return UNKNOWN_HUB
    hubs = {h.hub for h in handlers if _template_matches(h.url_redacted, url)}
    return hubs.pop() if len(hubs) == 1 else UNKNOWN_HUB


def _template_matches(template: str, url: str) -> bool:
    pattern = re.escape(template.lower()).replace(re.escape("{event}"), "[^/]+").replace(re.escape("{hub}"), "[^/]+")
    return re.fullmatch(pattern, url.lower().rstrip("/")) is not None or template.lower() == url.lower()


def group_rows(rows: Iterable[tuple[datetime | None, str, str]],
               handlers_by_resource: dict[str, Sequence[EventHandler]]) -> dict[str, tuple[HandlerLogError, ...]]:
    """(TimeGenerated, _ResourceId, Message) rows → failures per lower-case resource id, grouped
    by hub, event, status and kind; every resource in `handlers_by_resource` gets an entry."""
    groups: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
    for at, resource_id, message in rows:
        rid = (resource_id or "").rstrip("/").lower()
        if rid not in handlers_by_resource:
            continue
        parsed = parse_message(message or "")
        if parsed is None:
            continue
        hub = parsed.hub if parsed.hub != UNKNOWN_HUB else _hub_of(parsed.url, handlers_by_resource[rid])
        key = (rid, hub, parsed.event, parsed.status, parsed.kind)
        group = groups.setdefault(key, {"count": 0, "last": None, "sample": brief(message)})
        group["count"] += 1
        if at is not None and (group["last"] is None or at > group["last"]):
            group["last"] = at
    out: dict[str, list[HandlerLogError]] = {rid: [] for rid in handlers_by_resource}
    for (rid, hub, event, status, kind), g in sorted(groups.items()):
        out[rid].append(HandlerLogError(hub=hub, event=event, status=status, kind=kind, count=g["count"],
                                        last_seen=g["last"], sample=g["sample"]))
    return {rid: tuple(errors) for rid, errors in out.items()}


def query_workspace(client: Any, workspace_id: str, window_minutes: int, now: datetime | None = None,
                    only: Sequence[str] = ()) -> tuple[list[tuple[datetime | None, str, str]], str | None]:
    """Run the query against the workspace's ARM id; `only`: resource ids to keep the rows of (a
    check of a few resources reads their rows alone). Returns the rows and, for a partial result,
    the (scrubbed) partial error; a full failure raises."""
    end = now or clock.now()
    query = QUERY
    if only:
        query += "\n| where _ResourceId in~ (" + ", ".join(json.dumps(rid) for rid in only) + ")"
    result = client.query_resource(workspace_id, query, timespan=(end - timedelta(minutes=window_minutes), end))
    partial_error = None
    tables = getattr(result, "tables", None)
    if tables is None:  # LogsQueryPartialResult
        tables = result.partial_data or []
        error = result.partial_error
        partial_error = brief(f"{getattr(error, 'code', '')}: {getattr(error, 'message', '')}")
    rows = []
    for table in tables:
        columns = list(table.columns)
        at_i, rid_i, msg_i = (columns.index(c) for c in ("TimeGenerated", "_ResourceId", "Message"))
        for row in table.rows:
            at = row[at_i]
            rows.append((at if isinstance(at, datetime) else None, str(row[rid_i] or ""), str(row[msg_i] or "")))
    return rows, partial_error


def assign_workspaces(diagnostics: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Lower-case resource id → its workspaces, into workspace → resource ids. A resource sending
    to several workspaces is read from one (the copies would double its counts)."""
    out: dict[str, list[str]] = {}
    for rid, workspaces in diagnostics.items():
        if workspaces:
            out.setdefault(sorted(w.lower() for w in workspaces)[0], []).append(rid)
    return out


# -- in the sweep --------------------------------------------------------------------------------

Rows = list[tuple[datetime | None, str, str]]


@dataclass
class Querying:
    calls: dict[str, Future[Rows | None]]  # by workspace
    members: dict[str, list[str]]  # workspace -> lower-case resource ids
    signals: dict[str, Future[dict[str, LogSignals] | None]]  # by workspace (watchdog/collect/log_signals.py)


def submit(calls: Calls, clients: AzureClients, diagnostics: Mapping[str, Diagnostics], window_minutes: int,
           idle_timeouts: Sequence[int], now: datetime) -> Querying:
    """Per workspace the resources send their logs to, the handler-error query and the aggregated
    connectivity query (log_signals.py), at most QUERY_CONCURRENCY queries at once."""
    members = assign_workspaces({rid: d.workspace_ids for rid, d in diagnostics.items()})
    narrow = len(diagnostics) <= NARROW_MAX
    gate = threading.BoundedSemaphore(QUERY_CONCURRENCY)

    def partial(workspace: str, error: str | None) -> None:
        if error:
            calls.report(ObservationError("logs", ErrorKind.ERROR, f"partial result: {error}", subject=workspace))

    def query(workspace: str) -> Rows:
        with gate:
            rows, error = query_workspace(clients.logs(), workspace, window_minutes, now,
                                          members[workspace] if narrow else ())
        partial(workspace, error)
        return rows

    def signals(workspace: str) -> dict[str, LogSignals]:
        with gate:
            found, error = log_signals.read(clients.logs(), workspace, members[workspace], window_minutes,
                                            idle_timeouts, now)
        partial(workspace, error)
        return found

    return Querying({ws: calls.submit(lambda ws=ws: query(ws), "logs", subject=ws, action=ACTION) for ws in members},
                    members,
                    {ws: calls.submit(lambda ws=ws: signals(ws), "logs", subject=ws, action=ACTION) for ws in members})


def collect(querying: Querying, handlers: Mapping[str, Sequence[tuple[EventHandler, Any]]],
            ) -> dict[str, tuple[HandlerLogError, ...]]:
    """Handler errors by lower-case id, for the resources of every workspace that answered."""
    out: dict[str, tuple[HandlerLogError, ...]] = {}
    for workspace, future in querying.calls.items():
        rows = future.result()
        if rows is not None:
            members = {rid: [h for h, _ in handlers.get(rid, ())] for rid in querying.members[workspace]}
            out.update(group_rows(rows, members))
    return out


def collect_signals(querying: Querying) -> dict[str, LogSignals]:
    """Connectivity signals by lower-case id, for the resources of every workspace that answered."""
    out: dict[str, LogSignals] = {}
    for future in querying.signals.values():
        if (found := future.result()) is not None:
            out.update(found)
    return out
