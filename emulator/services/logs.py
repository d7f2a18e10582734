"""Log Analytics query API on api.loganalytics.io (operationalinsights/.../2022-10-27).

Served: `POST|GET /v1/workspaces/{customerId}/query` and the resource-centric
`POST|GET /v1/{resourceId}/query` (`LogsQueryClient.query_resource`). A resource id may be a
workspace's ARM id (that workspace) or a Web PubSub resource's (its rows, across every workspace
its diagnostic settings send logs to). The body's `workspaces` adds workspaces by customer id,
ARM id or name. The `Prefer` header (`wait=N`, `include-statistics=true`, `include-render=true`)
is honoured and echoed in `Preference-Applied`.

Queries run on emulator/kql, a KQL engine for the subset the watchdog uses (listed there):
each table holds the scenario workspaces' rows, bounded by the request's `timespan` (ISO 8601
duration, `start/end`, `start/duration`, `duration/end`) and, for a resource-context query, to
that resource's rows. Like Log Analytics, rows hold `_ResourceId` lower-cased (so `==` with a
mixed-case id finds nothing) and a `Type` column naming their table. Syntax outside the subset
answers 400 BadArgumentError with an inner SyntaxError; an unknown table or column, SemanticError.

Errors: a workspace with `partial_error` answers 200 with the rows and an `error` (PartialError),
which the SDK turns into LogsQueryPartialResult; a forbidden workspace or a `logs` denial answers
403 InsufficientAccessError; an unknown workspace 404 WorkspaceNotFoundError; an unknown resource
id 404 PathNotFoundError.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from .. import kql
from ..world import Workspace, utcnow
from .base import BadRequest, Call, Service, json_response

INSUFFICIENT_ACCESS = "The provided credentials have insufficient access to perform the requested operation"
_COMMON = [("TimeGenerated", "datetime"), ("OperationName", "string"), ("Level", "string"), ("Message", "string"),
           ("ConnectionId", "string"), ("UserId", "string"), ("CallerIpAddress", "string"), ("Location", "string")]
# Columns of Web PubSub's resource-specific tables (AZURE-FACTS "Resource logs"), plus `Type`,
# which every Log Analytics table has and which tells a union's rows apart.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "WebPubSubConnectivity": _COMMON + [("_ResourceId", "string"), ("Type", "string")],
    "WebPubSubMessaging": _COMMON + [("TraceId", "string"), ("_ResourceId", "string"), ("Type", "string")],
    "WebPubSubHttpRequest": [("TimeGenerated", "datetime"), ("OperationName", "string"), ("Level", "string"),
                             ("Message", "string"), ("CallerIpAddress", "string"), ("Location", "string"), ("TraceId", "string"),
                             ("HttpMethod", "string"), ("Url", "string"), ("StatusCode", "string"),
                             ("DurationMs", "string"), ("Headers", "string"), ("_ResourceId", "string"),
                             ("Type", "string")],
}
# Workspace-based Application Insights tables (learn.microsoft.com/azure/azure-monitor/reference/
# tables/apprequests, appdependencies, appevents, appmetrics): the columns the watchdog's telemetry
# fills and its alerts and workbook read (tests/unit/test_log_columns.py checks them).
_APP = [("TimeGenerated", "datetime"), ("Name", "string"), ("OperationId", "string"), ("ParentId", "string"),
        ("AppRoleName", "string"), ("AppRoleInstance", "string"), ("ItemCount", "int"), ("Properties", "dynamic"),
        ("_ResourceId", "string"), ("Type", "string")]
_CALL = [("Id", "string"), ("Success", "bool"), ("ResultCode", "string"), ("DurationMs", "real"),
         ("Measurements", "dynamic")]
COLUMNS.update({
    "AppRequests": _APP + _CALL,
    "AppDependencies": _APP + _CALL + [("DependencyType", "string"), ("Target", "string"), ("Data", "string")],
    "AppEvents": _APP + [("Measurements", "dynamic")],
    "AppMetrics": _APP + [("Sum", "real"), ("Min", "real"), ("Max", "real")],
})
_DURATION = re.compile(r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
                       r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE)


class LogAnalytics(Service):
    name = "logs"
    audience = "https://api.loganalytics.io"
    case_insensitive_paths = True

    def __init__(self, world) -> None:  # noqa: ANN001
        super().__init__(world)
        for method in ("POST", "GET"):
            self.route(method, r"/v1/workspaces/(?P<ws>[^/]+)/query", "logs.query")(self.query_workspace)
            self.route(method, r"/v1/+(?P<rid>subscriptions/.+)/query", "logs.queryResource")(self.query_resource)

    def matches(self, host: str) -> bool:
        return host == "api.loganalytics.io"

    def forbidden_message(self, request: web.Request, body: bytes) -> str | None:
        return INSUFFICIENT_ACCESS

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
              inner: dict[str, Any] | None = None) -> web.Response:
        # Azure adds a correlationId, which errorInfo in the spec does not declare: left out.
        body: dict[str, Any] = {"message": message, "code": code}
        if inner:
            body["innererror"] = inner
        return web.json_response({"error": body}, status=status, headers=headers)

    async def query_workspace(self, call: Call) -> web.StreamResponse:
        ws = self.world.workspace(call.group("ws"))
        if ws is None:
            return self._not_found(call.group("ws"))
        return await self._run(call, [ws], resource_id=None, scope=ws.id)

    async def query_resource(self, call: Call) -> web.StreamResponse:
        rid = "/" + call.group("rid").rstrip("/")
        ws = self.world.workspace(rid)
        if ws is not None:
            return await self._run(call, [ws], resource_id=None, scope=ws.id)
        res = self.world.resource(rid)
        if res is None:
            return self.error(404, "PathNotFoundError", f"The requested path does not exist: resource '{rid}'.")
        targets = [w for w in (self.world.workspace(d.workspace_id) for d in res.diagnostics) if w is not None]
        return await self._run(call, list({w.id: w for w in targets}.values()), resource_id=res.id, scope=res.id)

    def _not_found(self, name: str) -> web.Response:
        return self.error(404, "WorkspaceNotFoundError", f"The workspace '{name}' could not be found.")

    async def _run(self, call: Call, workspaces: list[Workspace], resource_id: str | None,
                   scope: str) -> web.StreamResponse:
        if call.request.method == "GET":
            query, timespan, extra = call.request.query.get("query"), call.request.query.get("timespan"), []
        else:
            body = call.json()
            if not isinstance(body, dict):
                raise BadRequest("The request body must be a JSON object.")
            query, timespan, extra = body.get("query"), body.get("timespan"), body.get("workspaces") or []
        if not query or not isinstance(query, str):
            return self._bad("Parameter 'query' cannot be null or empty", "QueryValidationError")
        for name in extra:
            ws = self.world.workspace(name) or next(
                (w for w in self.world.workspaces.values() if w.name.lower() == str(name).lower()), None)
            if ws is None:
                return self._not_found(name)
            workspaces.append(ws)
        # Workspace-context access needs rights on the workspace; resource-context on the resource.
        scopes = [scope] if resource_id is not None else [ws.id for ws in workspaces]
        if any(self.world.denial("logs", s) for s in scopes) or (
                resource_id is None and any(ws.forbidden for ws in workspaces)):
            return self.error(403, "InsufficientAccessError", INSUFFICIENT_ACCESS)
        try:
            window = _timespan(timespan)
        except ValueError:
            return self._bad(f"Invalid timespan '{timespan}': expected an ISO 8601 interval or duration.",
                             "InvalidTimespan")
        with self.world.lock:
            tables = _tables(workspaces, window, resource_id)
            partial = [ws.partial_error for ws in workspaces if ws.partial_error]
        try:
            table = kql.run(query, tables, utcnow())
        except kql.KqlError as e:
            return self._bad(e.message, e.code)
        result = {"name": "PrimaryResult", "columns": [{"name": n, "type": t} for n, t in table.columns],
                  "rows": [[kql.cell(row.get(n)) for n, _ in table.columns] for row in table.rows]}
        body: dict[str, Any] = {"tables": [result]}
        prefer = {p.strip().split("=")[0].lower(): p.strip() for p in call.request.headers.get("Prefer", "").split(",")
                  if p.strip()}
        if "include-statistics" in prefer:
            body["statistics"] = {"query": {"executionTime": 0.01, "resourceUsage": {}, "inputDatasetStatistics": {}}}
        if "include-render" in prefer:
            body["render"] = {}
        if partial:
            body["error"] = {"code": "PartialError", "message": "There were some errors when processing your query.",
                             "details": [{"code": "EngineError", "message": m} for m in partial]}
        headers = {"Preference-Applied": ",".join(prefer.values())} if prefer else None
        return json_response(body, headers=headers)

    def _bad(self, message: str, inner_code: str) -> web.Response:
        return self.error(400, "BadArgumentError", "The request had some invalid properties",
                          inner={"code": inner_code, "message": message})


def _tables(workspaces: list[Workspace], window: tuple[datetime | None, datetime | None],
            resource_id: str | None) -> dict[str, kql.Table]:
    """Every table the workspaces know (and Web PubSub's, even empty), oldest rows first."""
    names = dict.fromkeys(list(COLUMNS) + [t for w in workspaces for t in w.tables])
    start, end = window
    out = {}
    for table in names:
        rows = []
        for ws in workspaces:
            for row in ws.tables.get(table, []):
                rid = str(row.get("_ResourceId", "")).lower()
                at = row["TimeGenerated"]
                if resource_id is not None and rid != resource_id.lower():
                    continue
                if (start and at < start) or (end and at >= end):
                    continue
                rows.append({**row, "_ResourceId": rid, "Type": table})
        rows.sort(key=lambda r: r["TimeGenerated"])
        columns = COLUMNS.get(table) or _columns_of(workspaces, table)
        out[table] = kql.Table(list(columns), [{n: r.get(n) for n, _ in columns} for r in rows])
    return out


def _columns_of(workspaces: list[Workspace], table: str) -> list[tuple[str, str]]:
    """A table the scenario invents: the columns its rows use."""
    names = dict.fromkeys(k for ws in workspaces for row in ws.tables.get(table, []) for k in row)
    return [(n, "datetime" if n == "TimeGenerated" else "string") for n in names] + [("Type", "string")]


def _timespan(raw: str | None) -> tuple[datetime | None, datetime | None]:
    """ISO 8601: a duration back from now, start/end, start/duration or duration/end."""
    if not raw:
        return None, None
    if "/" not in raw:
        return utcnow() - _duration(raw), None
    first, second = raw.split("/", 1)
    if first.upper().startswith("P"):
        end = _time(second)
        return end - _duration(first), end
    start = _time(first)
    return start, (start + _duration(second) if second.upper().startswith("P") else _time(second))


def _duration(raw: str) -> timedelta:
    m = _DURATION.match(raw.strip())
    if not m or raw.strip().upper() in ("P", "PT"):
        raise ValueError(raw)
    return timedelta(days=float(m["d"] or 0), hours=float(m["h"] or 0), minutes=float(m["m"] or 0),
                     seconds=float(m["s"] or 0))


def _time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
