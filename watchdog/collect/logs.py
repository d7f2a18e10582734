"""The resource logs: one query per workspace per sweep, for event-handler failures and the
connectivity signals (log_signals.py) together, each leg's rows told apart by a `Kind` column.

The tables have no Hub column and no error-kind column: handler failures appear only in Message
text (AZURE-FACTS "Resource logs"), so they are parsed here. URLs inside messages are redacted.
Log Analytics allows 5 concurrent queries per user: one query per workspace, not one per question,
lets a sweep of 4 regions ask everything at once.
"""
from __future__ import annotations

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
from watchdog.models import ErrorKind, HandlerLogError, ObservationError
from watchdog.models_resource import Diagnostics, EventHandler
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

HANDLER_KIND = "handler-error"


def handler_leg(window_minutes: int, scope: str = "") -> str:
    """The handler-failure leg: only rows that can be failures leave the workspace; grouping
    happens here, where the Message text is parsed. `scope`: log_signals.scope_clause."""
    return (f"(union isfuzzy=true {', '.join(LOG_TABLES)}"
            f" | where {scope}TimeGenerated > ago({window_minutes}m)"
            ' and (Message has "status code" or Message has "Abuse protection")'
            f' | project TimeGenerated, _ResourceId, Message | extend Kind = "{HANDLER_KIND}")')


def workspace_query(window_minutes: int, idle_timeouts: Sequence[int], only: Sequence[str] = ()) -> str:
    """The workspace's one query; `only`: resource ids to keep the rows of (a check of a few
    resources reads their rows alone, each table filtered to them before anything is summarized)."""
    return log_signals.build_query(window_minutes, idle_timeouts,
                                   extra=(handler_leg(window_minutes, log_signals.scope_clause(only)),), only=only)


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


Rows = list[tuple[datetime | None, str, str]]


@dataclass(frozen=True)
class WorkspaceLogs:
    """One workspace's answer: the handler-failure rows (TimeGenerated, _ResourceId, Message), the
    connectivity signals of its resources, and for a partial result the (scrubbed) partial error."""

    handler_rows: Rows
    signals: dict[str, LogSignals]
    partial_error: str | None = None


def read_workspace(client: Any, workspace_id: str, resource_ids: Sequence[str], window_minutes: int,
                   idle_timeouts: Sequence[int], now: datetime | None = None,
                   only: Sequence[str] = ()) -> WorkspaceLogs:
    """Run the workspace's query against its ARM id (`LogsQueryClient.query_resource`); a failure
    raises. `resource_ids`: the resources whose signals it answers for (all zeros when quiet)."""
    end = now or clock.now()
    start = end - timedelta(minutes=log_signals.lookback_minutes(window_minutes))
    result = client.query_resource(workspace_id, workspace_query(window_minutes, idle_timeouts, only),
                                   timespan=(start, end))
    partial_error = None
    tables = getattr(result, "tables", None)
    if tables is None:  # LogsQueryPartialResult
        tables = result.partial_data or []
        error = result.partial_error
        partial_error = brief(f"{getattr(error, 'code', '')}: {getattr(error, 'message', '')}")
    columns = list(tables[0].columns) if tables else []
    index = {name: i for i, name in enumerate(columns)}
    handler_rows: Rows = []
    signal_rows = []
    for table in tables:
        for row in table.rows:
            if "Kind" in index and row[index["Kind"]] == HANDLER_KIND:
                at = row[index["TimeGenerated"]]
                handler_rows.append((at if isinstance(at, datetime) else None, str(row[index["_ResourceId"]] or ""),
                                     str(row[index["Message"]] or "")))
            else:
                signal_rows.append(list(row))
    signals = log_signals.parse(columns, signal_rows, resource_ids, window_minutes, idle_timeouts)
    return WorkspaceLogs(handler_rows, signals, partial_error)


def assign_workspaces(diagnostics: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Lower-case resource id → its workspaces, into workspace → resource ids. A resource sending
    to several workspaces is read from one (the copies would double its counts)."""
    out: dict[str, list[str]] = {}
    for rid, workspaces in diagnostics.items():
        if workspaces:
            out.setdefault(sorted(w.lower() for w in workspaces)[0], []).append(rid)
    return out


# -- in the sweep --------------------------------------------------------------------------------


@dataclass
class Querying:
    calls: dict[str, Future[WorkspaceLogs | None]]  # by workspace
    members: dict[str, list[str]]  # workspace -> lower-case resource ids


def submit(calls: Calls, clients: AzureClients, diagnostics: Mapping[str, Diagnostics], window_minutes: int,
           idle_timeouts: Sequence[int], now: datetime) -> Querying:
    """One query per workspace the resources send their logs to, at most QUERY_CONCURRENCY at once."""
    members = assign_workspaces({rid: d.workspace_ids for rid, d in diagnostics.items()})
    narrow = len(diagnostics) <= NARROW_MAX
    gate = threading.BoundedSemaphore(QUERY_CONCURRENCY)

    def query(workspace: str) -> WorkspaceLogs:
        with gate:
            found = read_workspace(clients.logs(), workspace, members[workspace], window_minutes, idle_timeouts, now,
                                   members[workspace] if narrow else ())
        if found.partial_error:
            calls.report(ObservationError("logs", ErrorKind.ERROR, f"partial result: {found.partial_error}",
                                          subject=workspace))
        return found

    return Querying({ws: calls.submit(lambda ws=ws: query(ws), "logs", subject=ws, action=ACTION) for ws in members},
                    members)


def collect(querying: Querying, handlers: Mapping[str, Sequence[tuple[EventHandler, Any]]],
            ) -> dict[str, tuple[HandlerLogError, ...]]:
    """Handler errors by lower-case id, for the resources of every workspace that answered."""
    out: dict[str, tuple[HandlerLogError, ...]] = {}
    for workspace, future in querying.calls.items():
        if (found := future.result()) is not None:
            members = {rid: [h for h, _ in handlers.get(rid, ())] for rid in querying.members[workspace]}
            out.update(group_rows(found.handler_rows, members))
    return out


def collect_signals(querying: Querying) -> dict[str, LogSignals]:
    """Connectivity signals by lower-case id, for the resources of every workspace that answered."""
    out: dict[str, LogSignals] = {}
    for future in querying.calls.values():
        if (found := future.result()) is not None:
            out.update(found.signals)
    return out
