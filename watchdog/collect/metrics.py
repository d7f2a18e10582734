"""Metrics through the batch API: per subscription and region, 50 resources per call.

Results carry no resource id: each Metric.id is "<resource id>/providers/Microsoft.Insights/
metrics/<name>", so results are mapped back by that prefix.

The call goes through the SDK's MetricsClient (its pipeline: credential, retries, timeouts,
logging) with `send_request`, and the body is folded as JSON: `query_resources` would build a model
object per data point (about 6,000 a call, 240,000 a 1,000-resource sweep), the largest CPU cost of
a steady sweep (bench/README.md), for values read once and dropped.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from watchdog import clock
from watchdog.collect.calls import Calls
from watchdog.collect.errors import to_error
from watchdog.models import MetricPoint, ResourceMetrics
from watchdog.models_resource import Resource

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

NAMESPACE = "Microsoft.SignalRService/WebPubSub"
REPLICA_NAMESPACE = "Microsoft.SignalRService/WebPubSub/replicas"  # a batch holds one resource type
ACTION = "Microsoft.Insights/metrics/read"
BATCH_SIZE = 50  # the batch API's limit on resource ids per call
API_VERSION = "2024-02-01"  # metrics:getBatch, the version MetricsClient speaks
CLOSE_DIMENSION = "ConnectionCloseCategory"
METRIC_ID_TAIL = "/providers/microsoft.insights/metrics/"  # a metric's id: <resource id><tail><name>


@dataclass(frozen=True)
class MetricSet:
    """Metrics fetched in one call. The aggregations and the filter of a call apply to every
    metric in it; each metric keeps the one aggregation the rules read."""

    metrics: tuple[tuple[str, str], ...]  # (metric name, aggregation)
    filter: str | None = None

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.metrics]

    @property
    def aggregations(self) -> list[str]:
        return list(dict.fromkeys(agg for _, agg in self.metrics))

    def aggregation_of(self, name: str) -> str | None:
        return next((agg for n, agg in self.metrics if n.lower() == name.lower()), None)


# Two calls per batch, the fewest the API allows: a filter on ConnectionCloseCategory is refused
# for metrics without that dimension, so the split close counts need their own call.
METRIC_SETS: tuple[MetricSet, ...] = (
    MetricSet((("TotalConnectionCount", "Maximum"), ("ConnectionQuotaUtilization", "Maximum"),
               ("ServerLoad", "Maximum"), ("OutboundTraffic", "Total"))),
    MetricSet((("ConnectionCloseCount", "Total"),), f"{CLOSE_DIMENSION} eq '*'"),
)


@dataclass(frozen=True)
class Batch:
    subscription_id: str
    region: str
    resources: tuple[Resource, ...]
    namespace: str = NAMESPACE


def namespace_of(resource: Resource) -> str:
    return REPLICA_NAMESPACE if "/replicas/" in resource.id.lower() else NAMESPACE


def plan_batches(resources: Iterable[Resource]) -> list[Batch]:
    """Group by subscription, region and resource type (the API's rule: replicas apart from
    resources), at most BATCH_SIZE ids per batch."""
    groups: dict[tuple[str, str, str], list[Resource]] = {}
    for r in resources:
        key = (r.subscription_id.lower(), r.location.replace(" ", "").lower(), namespace_of(r))
        groups.setdefault(key, []).append(r)
    return [Batch(sub, region, tuple(members[i:i + BATCH_SIZE]), namespace)
            for (sub, region, namespace), members in sorted(groups.items())
            for i in range(0, len(members), BATCH_SIZE)]


def owners(ids: Sequence[str]) -> dict[str, str]:
    return {rid.lower().rstrip("/"): rid for rid in ids}


def owner_of(metric_id: str, by_lower: Mapping[str, str]) -> str | None:
    """The resource id (of `by_lower`, from owners()) that `metric_id` names, case-insensitively."""
    return by_lower.get(metric_id.lower().rsplit(METRIC_ID_TAIL, 1)[0])


def _dimension(values: Iterable[dict[str, Any]], name: str) -> str | None:
    # The service lower-cases dimension names in metadatavalues; match either way.
    return next((v.get("value") for v in values if (v.get("name") or {}).get("value", "").lower() == name.lower()),
                None)


def _stamp(text: str, stamps: dict[str, datetime]) -> datetime:
    """One datetime per distinct timestamp (every resource's series has the same minutes)."""
    at = stamps.get(text)
    if at is None:
        at = stamps[text] = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at


@dataclass
class _Accumulator:
    series: dict[str, tuple[MetricPoint, ...]]
    close_counts: dict[str, float]


def fold(body: dict[str, Any], metric_set: MetricSet, ids: Sequence[str], into: dict[str, _Accumulator],
         stamps: dict[str, datetime] | None = None) -> None:
    """Add one getBatch response body (metricBatch.json's MetricResults) to the accumulators (by
    lower-case id). `stamps`: timestamps parsed so far, shared between calls."""
    stamps = {} if stamps is None else stamps
    by_lower = owners(ids)
    for result in body.get("values") or ():
        for metric in result.get("value") or ():
            name = (metric.get("name") or {}).get("value") or ""
            rid = owner_of(metric.get("id") or "", by_lower)
            aggregation = metric_set.aggregation_of(name)
            if rid is None or aggregation is None:
                continue
            field_ = aggregation[0].lower() + aggregation[1:]  # the point's property: maximum, total, ...
            acc = into.setdefault(rid.lower(), _Accumulator({}, {}))
            if metric_set.filter:
                for ts in metric.get("timeseries") or ():
                    category = _dimension(ts.get("metadatavalues") or (), CLOSE_DIMENSION) or "Unknown"
                    total = sum(v for p in ts.get("data") or () if (v := p.get(field_)) is not None)
                    acc.close_counts[category] = acc.close_counts.get(category, 0.0) + total
                continue
            points = tuple(MetricPoint(_stamp(p["timeStamp"], stamps), p.get(field_))
                           for ts in metric.get("timeseries") or () for p in ts.get("data") or ())
            if points:
                acc.series[f"{name}:{aggregation}"] = points


def to_metrics(acc: _Accumulator | None, window_minutes: int) -> ResourceMetrics:
    if acc is None:
        return ResourceMetrics(window_minutes=window_minutes)
    return ResourceMetrics(series=dict(acc.series), close_counts=dict(acc.close_counts),
                           window_minutes=window_minutes)


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def query_set(client: Any, batch: Batch, metric_set: MetricSet, window_minutes: int,
              now: datetime | None = None) -> list[dict[str, Any]]:
    """One getBatch call (`client`: the MetricsClient of the batch's region); the response bodies.

    UNCONFIRMED whether Azure serves an aggregation outside a metric's documented ones (Total of
    a percentage) when several are asked at once; if it refuses such a call with 400, the set is
    asked once per aggregation instead, so either answer works (at one more call)."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    end = (now or clock.now()).replace(second=0, microsecond=0)

    def ask(names: list[str], aggregations: list[str]) -> dict[str, Any]:
        params = {"api-version": API_VERSION, "starttime": _iso(end - timedelta(minutes=window_minutes)),
                  "endtime": _iso(end), "interval": "PT1M", "metricnamespace": batch.namespace,
                  # MetricsClient's own encoding of a comma inside a metric name
                  "metricnames": ",".join(n.replace(",", "%2") for n in names),
                  "aggregation": ",".join(aggregations)}
        if metric_set.filter:
            params["filter"] = metric_set.filter
        response = client.send_request(HttpRequest(
            "POST", f"/subscriptions/{batch.subscription_id}/metrics:getBatch", params=params,
            json={"resourceids": [r.id for r in batch.resources]}, headers={"Accept": "application/json"}))
        response.raise_for_status()
        return response.json()

    try:
        return [ask(metric_set.names, metric_set.aggregations)]
    except HttpResponseError as exc:
        if exc.status_code != 400 or len(metric_set.aggregations) < 2:
            raise
    return [ask([n for n, a in metric_set.metrics if a == agg], [agg]) for agg in metric_set.aggregations]


# -- in the sweep --------------------------------------------------------------------------------


@dataclass
class Folding:
    """Series folded as each batch call returns, so the SDK's result objects (one per resource,
    metric and minute) are freed call by call instead of all held until the stage ends."""

    calls: list[tuple[Batch, Future[Exception | None]]] = field(default_factory=list)
    acc: dict[str, _Accumulator] = field(default_factory=dict)  # by lower-case id
    stamps: dict[str, datetime] = field(default_factory=dict)  # shared timestamps
    lock: threading.Lock = field(default_factory=threading.Lock)


def submit(calls: Calls, clients: AzureClients, resources: list[Resource], window_minutes: int,
           now: datetime) -> Folding:
    """One call per batch and metric set, each folded as it returns."""
    folding = Folding()
    for batch in plan_batches(resources):
        for metric_set in METRIC_SETS:
            def call(batch: Batch = batch, metric_set: MetricSet = metric_set) -> Exception | None:
                try:
                    bodies = query_set(clients.metrics(batch.region), batch, metric_set, window_minutes, now)
                except Exception as exc:  # noqa: BLE001 - reported per resource of the batch by collect()
                    return exc
                with folding.lock:
                    for body in bodies:
                        fold(body, metric_set, [r.id for r in batch.resources], folding.acc, folding.stamps)
                return None
            folding.calls.append((batch, calls.spawn(call)))
    return folding


def collect(calls: Calls, folding: Folding, window_minutes: int) -> dict[str, ResourceMetrics]:
    """Metrics by lower-case id once every call returned; a failed call is an error for each
    resource of its batch."""
    failed: dict[str, int] = {}
    for batch, future in folding.calls:
        outcome = future.result()
        if isinstance(outcome, Exception):
            for r in batch.resources:
                failed[r.id.lower()] = failed.get(r.id.lower(), 0) + 1
                calls.report(to_error(outcome, "metrics", resource_id=r.id, action=ACTION))
    out: dict[str, ResourceMetrics] = {}
    for batch, _ in folding.calls:
        for r in batch.resources:
            rid = r.id.lower()
            # Nothing read at all: unknown (None), not "no data points".
            if failed.get(rid, 0) < len(METRIC_SETS):
                out[rid] = to_metrics(folding.acc.get(rid), window_minutes)
    return out
