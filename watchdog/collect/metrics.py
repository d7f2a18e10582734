"""Metrics through the batch API: per subscription and region, 50 resources per call.

Results carry no resource id: each Metric.id is "<resource id>/providers/Microsoft.Insights/
metrics/<name>", so results are mapped back by that prefix.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from watchdog.collect.calls import Calls
from watchdog.collect.errors import to_error
from watchdog.models import MetricPoint, Resource, ResourceMetrics

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

NAMESPACE = "Microsoft.SignalRService/WebPubSub"
REPLICA_NAMESPACE = "Microsoft.SignalRService/WebPubSub/replicas"  # a batch holds one resource type
ACTION = "Microsoft.Insights/metrics/read"
BATCH_SIZE = 50  # the batch API's limit on resource ids per call
CLOSE_DIMENSION = "ConnectionCloseCategory"


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


def owner_of(metric_id: str, ids: Sequence[str]) -> str | None:
    """The resource id among `ids` that `metric_id` starts with (case-insensitively)."""
    lowered = metric_id.lower()
    for rid in ids:
        if lowered.startswith(rid.lower().rstrip("/") + "/"):
            return rid
    return None


def _value(point: Any, aggregation: str) -> float | None:
    return getattr(point, aggregation.lower(), None)


def _dimension(values: dict[str, str], name: str) -> str | None:
    # The service lower-cases dimension names in metadatavalues; match either way.
    return next((v for k, v in values.items() if k.lower() == name.lower()), None)


@dataclass
class _Accumulator:
    series: dict[str, tuple[MetricPoint, ...]]
    close_counts: dict[str, float]


def fold(results: Iterable[Any], metric_set: MetricSet, ids: Sequence[str],
         into: dict[str, _Accumulator], stamps: dict[datetime, datetime] | None = None) -> None:
    """Add one call's results (MetricsQueryResult list) to the accumulators (by lower-case id).
    `stamps`: timestamps seen so far, so that points of the same minute share one datetime
    (every resource's series has the same minutes)."""
    stamps = {} if stamps is None else stamps
    for result in results:
        for metric in result.metrics:
            rid = owner_of(metric.id or "", ids)
            aggregation = metric_set.aggregation_of(metric.name or "")
            if rid is None or aggregation is None:
                continue
            acc = into.setdefault(rid.lower(), _Accumulator({}, {}))
            if metric_set.filter:
                for ts in metric.timeseries:
                    category = _dimension(ts.metadata_values or {}, CLOSE_DIMENSION) or "Unknown"
                    total = sum(v for p in ts.data if (v := _value(p, aggregation)) is not None)
                    acc.close_counts[category] = acc.close_counts.get(category, 0.0) + total
                continue
            points = tuple(MetricPoint(stamps.setdefault(p.timestamp, p.timestamp), _value(p, aggregation))
                           for ts in metric.timeseries for p in ts.data)
            if points:
                acc.series[f"{metric.name}:{aggregation}"] = points


def to_metrics(acc: _Accumulator | None, window_minutes: int) -> ResourceMetrics:
    if acc is None:
        return ResourceMetrics(window_minutes=window_minutes)
    return ResourceMetrics(series=dict(acc.series), close_counts=dict(acc.close_counts),
                           window_minutes=window_minutes)


def query_set(client: Any, batch: Batch, metric_set: MetricSet, window_minutes: int,
              now: datetime | None = None) -> list[Any]:
    """One getBatch call (`client`: the MetricsClient of the batch's region).

    UNCONFIRMED whether Azure serves an aggregation outside a metric's documented ones (Total of
    a percentage) when several are asked at once; if it refuses such a call with 400, the set is
    asked once per aggregation instead, so either answer works (at one more call)."""
    from azure.core.exceptions import HttpResponseError

    end = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)

    def ask(names: list[str], aggregations: list[str]) -> list[Any]:
        return client.query_resources(
            resource_ids=[r.id for r in batch.resources],
            metric_namespace=batch.namespace,
            metric_names=names,
            timespan=(end - timedelta(minutes=window_minutes), end),
            granularity=timedelta(minutes=1),
            aggregations=aggregations,
            filter=metric_set.filter,
        )

    try:
        return ask(metric_set.names, metric_set.aggregations)
    except HttpResponseError as exc:
        if exc.status_code != 400 or len(metric_set.aggregations) < 2:
            raise
    return [result for agg in metric_set.aggregations
            for result in ask([n for n, a in metric_set.metrics if a == agg], [agg])]


# -- in the sweep --------------------------------------------------------------------------------


@dataclass
class Folding:
    """Series folded as each batch call returns, so the SDK's result objects (one per resource,
    metric and minute) are freed call by call instead of all held until the stage ends."""

    calls: list[tuple[Batch, Future[Exception | None]]] = field(default_factory=list)
    acc: dict[str, _Accumulator] = field(default_factory=dict)  # by lower-case id
    stamps: dict[datetime, datetime] = field(default_factory=dict)  # shared timestamps
    lock: threading.Lock = field(default_factory=threading.Lock)


def submit(calls: Calls, clients: AzureClients, resources: list[Resource], window_minutes: int,
           now: datetime) -> Folding:
    """One call per batch and metric set, each folded as it returns."""
    folding = Folding()
    for batch in plan_batches(resources):
        for metric_set in METRIC_SETS:
            def call(batch: Batch = batch, metric_set: MetricSet = metric_set) -> Exception | None:
                try:
                    results = query_set(clients.metrics(batch.region), batch, metric_set, window_minutes, now)
                except Exception as exc:  # noqa: BLE001 - reported per resource of the batch by collect()
                    return exc
                with folding.lock:
                    fold(results, metric_set, [r.id for r in batch.resources], folding.acc, folding.stamps)
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
