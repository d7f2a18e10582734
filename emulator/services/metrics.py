"""Azure Monitor batch metrics: `POST /subscriptions/{sub}/metrics:getBatch` on
`<region>.metrics.monitor.azure.com` (monitor/data-plane/.../2024-02-01/metricBatch.json).

Served as Azure does for `Microsoft.SignalRService/WebPubSub`:
- refused with 400 (`{"error": {"code", "message"}}`, as getBatch wraps its errors; Azure also
  sends `additionalInfo` with a string `info`, which the spec types as an object, so it is left
  out to keep bodies valid against the spec): more than 50 ids, ids of
  another subscription, of a region other than the host's, of mixed resource types, a namespace
  that is not the ids' type, a metric name the type does not publish (Azure's "Failed to find
  metric configuration ..." text, so `ConnectionCount` is refused), a filter on a dimension the
  metric lacks, an unknown aggregation or time grain. The exact wording of every message but the
  unknown-metric one is UNCONFIRMED: clients should branch on status and code only.
- a denial of `metrics` covering any id answers 403 AuthorizationFailed for the whole call.
- one value per minute comes from `WebPubSub.metric()`; a point aggregates the minutes of its
  grain (PT1M ... P1D, or FULL for one point) into average/minimum/maximum/total/count, and a
  point without samples carries only its timeStamp.
- `filter` understands `<dim> eq '<value>'` clauses joined by `or`/`and`, `'*'` splitting by
  every value; split series carry `metadatavalues` whose name is lower-cased, as Azure returns
  them (the SDK keys `metadata_values` by that name). `top` (default 10), `orderby`
  ("<aggregation> asc|desc", `sum` meaning total) and `rollupby` apply to the split series.
- an id of the right type that the scenario does not hold gets its metrics with no timeseries
  and a per-metric errorCode (UNCONFIRMED: Azure's exact per-resource answer is not documented).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from ..world import RESOURCE_TYPE, WebPubSub, utcnow
from .base import BadRequest, Call, Service, authorization_failed, json_response

MAX_IDS = 50
METRICS_READ = "Microsoft.Insights/Metrics/Read"
AGGREGATIONS = ("average", "minimum", "maximum", "total", "count")
GRAINS = {"PT1M": 1, "PT5M": 5, "PT15M": 15, "PT30M": 30, "PT1H": 60, "PT6H": 360, "PT12H": 720, "P1D": 1440}
CLOSE_CATEGORY = "ConnectionCloseCategory"


@dataclass(frozen=True)
class MetricDef:
    display: str
    unit: str
    primary: str  # the aggregation Azure returns when none is asked for
    description: str
    dimension: str | None = None


# Web PubSub's metric definitions (AZURE-FACTS "Metrics"); there is no ConnectionCount.
METRICS: dict[str, MetricDef] = {
    "TotalConnectionCount": MetricDef("Connection Count", "Count", "maximum",
                                      "The number of user connections established to the service."),
    "ConnectionQuotaUtilization": MetricDef("Connection Quota Utilization", "Percent", "maximum",
                                            "The percentage of connections relative to the connection quota."),
    "ServerLoad": MetricDef("Server Load", "Percent", "maximum", "Web PubSub server load."),
    "ConnectionOpenCount": MetricDef("Connection Open Count", "Count", "total",
                                     "The count of new connections established."),
    "ConnectionCloseCount": MetricDef("Connection Close Count", "Count", "total",
                                      "The count of connections closed by various reasons.", CLOSE_CATEGORY),
    "InboundTraffic": MetricDef("Inbound Traffic", "Bytes", "total", "The inbound traffic of the service."),
    "OutboundTraffic": MetricDef("Outbound Traffic", "Bytes", "total", "The outbound traffic of the service."),
}
_BY_LOWER = {name.lower(): name for name in METRICS}
_CLAUSE = re.compile(r"^\s*(?P<dim>.+?)\s+eq\s+'(?P<value>[^']*)'\s*$", re.IGNORECASE)
# A resource, or a child resource (a replica: <type>/<name>/replicas/<name>, type WebPubSub/replicas).
_ID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/[^/]+/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)/[^/]+"
                 r"(?:/(?P<child>[^/]+)/[^/]+)?$",
                 re.IGNORECASE)


NAMESPACES = (RESOURCE_TYPE.lower(), f"{RESOURCE_TYPE}/replicas".lower())


def namespace_of(rid: str) -> str:
    return NAMESPACES[1] if "/replicas/" in rid.lower() else NAMESPACES[0]


class BatchMetrics(Service):
    name = "metrics"
    audience = "https://metrics.monitor.azure.com"
    case_insensitive_paths = True

    def __init__(self, world) -> None:  # noqa: ANN001
        super().__init__(world)
        self.route("POST", r"/subscriptions/(?P<sub>[^/]+)/metrics:getBatch", "metrics.getBatch")(self.get_batch)

    def forbidden_message(self, request: web.Request, body: bytes) -> str | None:
        try:
            scope = json.loads(body)["resourceids"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            scope = "/".join(request.path.split("/")[:3])
        return authorization_failed(self.world.principal_id, METRICS_READ, scope)

    def matches(self, host: str) -> bool:
        return host.endswith(".metrics.monitor.azure.com")

    async def get_batch(self, call: Call) -> web.StreamResponse:
        q = call.request.query
        if not q.get("api-version"):
            raise BadRequest("The api-version query parameter is required.")
        ids = (call.json() or {}).get("resourceids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise BadRequest("The request body must hold a non-empty 'resourceids' list.")
        self._check_ids(call.group("sub"), call.host.split(".", 1)[0], ids, q.get("metricnamespace", ""))
        names = self._metric_names(q.get("metricnames", ""))
        aggregations = self._aggregations(q.get("aggregation"))
        start, end = _window(q.get("starttime"), q.get("endtime"))
        grain = q.get("interval", "PT1M").upper()
        if grain != "FULL" and grain not in GRAINS:
            raise BadRequest(f"Invalid time grain '{grain}'. Supported: {', '.join(GRAINS)}, FULL.")
        split = _parse_filter(q.get("filter"), names)
        top = int(q["top"]) if q.get("top", "").isdigit() else 10
        orderby = q.get("orderby")
        rollup = (q.get("rollupby") or "").lower() == CLOSE_CATEGORY.lower()
        for rid in ids:
            denial = self.world.denial("metrics", rid)
            if denial is not None:
                oid = (call.caller or {}).get("oid", "")
                return self.error(403, "AuthorizationFailed", authorization_failed(oid, METRICS_READ, denial.scope or rid))
        minutes = GRAINS.get(grain) or max(1, round((end - start).total_seconds() / 60))
        values = []
        with self.world.lock:
            for rid in ids:
                res = self.world.metered(rid)
                metrics = [self._metric(rid, res, name, aggregations, start, end, minutes, split.get(name),
                                        top, orderby, rollup) for name in names]
                values.append({"starttime": _iso(start), "endtime": _iso(end), "interval": _duration(minutes),
                               "value": metrics, "namespace": namespace_of(rid),
                               "resourceregion": res.location if res else call.host.split(".", 1)[0],
                               "resourceid": rid})
        return json_response({"values": values})

    def _check_ids(self, sub: str, region: str, ids: list[str], namespace: str) -> None:
        if len(ids) > MAX_IDS:
            raise BadRequest(f"The batch holds {len(ids)} resource ids; at most {MAX_IDS} are allowed per call.")
        types = set()
        for rid in ids:
            m = _ID.match(rid)
            if m is None:
                raise BadRequest(f"'{rid}' is not a valid resource id.")
            if m["sub"].lower() != sub.lower():
                raise BadRequest(f"Resource id '{rid}' is not in subscription '{sub}' of the request path; "
                                 "all resources in a batch must be in the same subscription.")
            types.add(f"{m['ns']}/{m['type']}".lower() + (f"/{m['child']}".lower() if m["child"] else ""))
            res = self.world.metered(rid)
            if res is not None and _region(res.location) != region.lower():
                raise BadRequest(f"Resource '{rid}' is in region '{res.location}', not '{region}' of this endpoint; "
                                 "all resources in a batch must be in the endpoint's region.")
        if len(types) > 1:
            raise BadRequest(f"The batch mixes resource types ({', '.join(sorted(types))}); "
                             "all resources in a batch must be of the same resource type.")
        if not namespace:
            raise BadRequest("The metricnamespace query parameter is required.")
        if types != {namespace.lower()} or namespace.lower() not in NAMESPACES:
            raise BadRequest(f"Metric namespace '{namespace}' is not valid for resources of type "
                             f"'{types.pop()}'.")

    @staticmethod
    def _metric_names(raw: str) -> list[str]:
        if not raw:
            raise BadRequest("The metricnames query parameter is required.")
        names = []
        for name in raw.split(","):
            canonical = _BY_LOWER.get(name.strip().lower())
            if canonical is None:
                raise BadRequest("Failed to find metric configuration for provider: Microsoft.SignalRService, "
                                 f"resource Type: WebPubSub, metric: {name.strip()}, Valid metrics: {','.join(METRICS)}")
            names.append(canonical)
        return names

    @staticmethod
    def _aggregations(raw: str | None) -> list[str] | None:
        if not raw:
            return None  # each metric's primary aggregation
        wanted = [a.strip().lower() for a in raw.split(",") if a.strip()]
        unknown = [a for a in wanted if a not in AGGREGATIONS]
        if unknown:
            raise BadRequest(f"Invalid aggregation type(s): {', '.join(unknown)}. "
                             "Supported: Average, Count, Minimum, Maximum, Total.")
        return wanted

    def _metric(self, rid: str, res: WebPubSub | None, name: str, aggregations: list[str] | None,
                start: datetime, end: datetime, minutes: int, values_filter: set[str] | None,
                top: int, orderby: str | None, rollup: bool) -> dict[str, Any]:
        spec = METRICS[name]
        metric: dict[str, Any] = {
            "id": f"{rid}/providers/Microsoft.Insights/metrics/{name}", "type": "Microsoft.Insights/metrics",
            "name": {"value": name, "localizedValue": spec.display}, "displayDescription": spec.description,
            "unit": spec.unit, "timeseries": [], "errorCode": "Success"}
        if res is None:
            metric.update(errorCode="ResourceNotFound", errorMessage=f"The resource '{rid}' was not found.")
            return metric
        aggs = aggregations or [spec.primary]
        if values_filter is None:  # no filter on this metric: one series over every category
            cats = (res.close_categories() or [None]) if spec.dimension else [None]
            metric["timeseries"] = [{"metadatavalues": [], "data": _points(res, name, cats, aggs, start, end, minutes)}]
            return metric
        cats = [c for c in res.close_categories() if "*" in values_filter or c.lower() in values_filter]
        if rollup:
            metric["timeseries"] = [{"metadatavalues": [], "data": _points(res, name, cats, aggs, start, end, minutes)}]
            return metric
        series = [{"metadatavalues": [{"name": {"value": CLOSE_CATEGORY.lower(),
                                                "localizedValue": CLOSE_CATEGORY.lower()}, "value": c}],
                   "data": _points(res, name, [c], aggs, start, end, minutes)} for c in cats]
        if orderby:
            agg, _, direction = orderby.strip().lower().partition(" ")
            agg = "total" if agg == "sum" else agg
            series.sort(key=lambda s: sum(p.get(agg, 0) for p in s["data"]), reverse=direction.strip() != "asc")
        metric["timeseries"] = series[:top]
        return metric


def _points(res: WebPubSub, name: str, categories: list[str | None], aggs: list[str],
            start: datetime, end: datetime, minutes: int) -> list[dict[str, Any]]:
    """One point per grain from `start`; each aggregates the per-minute samples inside it."""
    now = utcnow().replace(second=0, microsecond=0)
    first = start.replace(second=0, microsecond=0)
    points = []
    bucket = first
    while bucket < end:
        samples = []
        minute = max(bucket, first)
        stop = min(bucket + timedelta(minutes=minutes), end)
        while minute < stop and minute <= now:
            ago = int((now - minute).total_seconds() // 60)
            found = [v for v in (res.metric(name, ago, c) for c in categories) if v is not None]
            if found:
                samples.append(sum(found))  # categories add up when a dimension is not split
            minute += timedelta(minutes=1)
        point: dict[str, Any] = {"timeStamp": _iso(bucket)}
        if samples:
            stats = {"average": sum(samples) / len(samples), "minimum": min(samples), "maximum": max(samples),
                     "total": sum(samples), "count": float(len(samples))}
            point.update({a: stats[a] for a in aggs})
        points.append(point)
        bucket += timedelta(minutes=minutes)
    return points


def _parse_filter(raw: str | None, names: list[str]) -> dict[str, set[str]]:
    """metric name -> wanted dimension values (lower-case, '*' for all); refuses foreign dimensions."""
    if not raw:
        return {}
    values: set[str] = set()
    dims: set[str] = set()
    for clause in re.split(r"\s+(?:and|or)\s+", raw.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(clause)
        if m is None:
            raise BadRequest(f"Invalid filter '{raw}': expected clauses like \"Dimension eq 'value'\".")
        dims.add(m["dim"].strip())
        values.add(m["value"].lower())
    for name in names:
        supported = METRICS[name].dimension
        if any(d.lower() != (supported or "").lower() for d in dims):
            raise BadRequest(f"Metric: {name} does not support requested dimension combination: "
                             f"{','.join(sorted(dims))}, supported ones are: {supported or ''}")
    return {name: values for name in names}


def _window(start_raw: str | None, end_raw: str | None) -> tuple[datetime, datetime]:
    """starttime/endtime as Azure reads them: end defaults to now, start to one hour before end."""
    if end_raw and not start_raw:
        raise BadRequest("starttime is required when endtime is given.")
    end = _parse_time(end_raw) if end_raw else utcnow()
    start = _parse_time(start_raw) if start_raw else end - timedelta(hours=1)
    if start >= end:
        raise BadRequest(f"Invalid time range: starttime {_iso(start)} is not before endtime {_iso(end)}.")
    return start, end


def _parse_time(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid time '{raw}': expected 'yyyy-MM-ddTHH:mm:ss.fffZ'.") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _iso(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{value.microsecond // 1000:03d}Z" if value.microsecond else "Z")


def _duration(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    time = (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def _region(location: str) -> str:
    return location.replace(" ", "").lower()
