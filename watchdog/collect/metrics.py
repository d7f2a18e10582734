"""Metrics through the batch API: per subscription and region, 50 resources per call.

Results carry no resource id: each Metric.id is "<resource id>/providers/Microsoft.Insights/
metrics/<name>", so results are mapped back by that prefix.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from watchdog.models import MetricPoint, Resource, ResourceMetrics

NAMESPACE = "Microsoft.SignalRService/WebPubSub"
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


def plan_batches(resources: Iterable[Resource]) -> list[Batch]:
    """Group by subscription and region (the API's rule), at most BATCH_SIZE ids per batch."""
    groups: dict[tuple[str, str], list[Resource]] = {}
    for r in resources:
        groups.setdefault((r.subscription_id.lower(), r.location.replace(" ", "").lower()), []).append(r)
    return [Batch(sub, region, tuple(members[i:i + BATCH_SIZE]))
            for (sub, region), members in sorted(groups.items())
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
            metric_namespace=NAMESPACE,
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
