"""The compact metric series: slotted points, one shared datetime per minute, values unchanged."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace as NS

import pytest

from watchdog.collect import metrics
from watchdog.models import MetricPoint

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
IDS = ["/subscriptions/s/resourceGroups/g/providers/Microsoft.SignalRService/WebPubSub/a",
       "/subscriptions/s/resourceGroups/g/providers/Microsoft.SignalRService/WebPubSub/b"]


def _result(rid: str, values: list[float | None]) -> NS:
    # Each result brings its own datetime objects, as the SDK's deserialiser does.
    data = [NS(timestamp=START + timedelta(minutes=i), maximum=v) for i, v in enumerate(values)]
    metric = NS(id=f"{rid}/providers/Microsoft.Insights/metrics/TotalConnectionCount", name="TotalConnectionCount",
                timeseries=[NS(data=data, metadata_values={})])
    return NS(metrics=[metric])


def test_points_keep_their_values_and_share_one_datetime_per_minute():
    acc: dict = {}
    stamps: dict = {}
    metric_set = metrics.METRIC_SETS[0]
    metrics.fold([_result(IDS[0], [1.0, None, 3.0])], metric_set, IDS, acc, stamps)
    metrics.fold([_result(IDS[1], [4.0, 5.0, None])], metric_set, IDS, acc, stamps)

    a = metrics.to_metrics(acc[IDS[0].lower()], 30).series["TotalConnectionCount:Maximum"]
    b = metrics.to_metrics(acc[IDS[1].lower()], 30).series["TotalConnectionCount:Maximum"]
    assert a == (MetricPoint(START, 1.0), MetricPoint(START + timedelta(minutes=1), None),
                 MetricPoint(START + timedelta(minutes=2), 3.0))
    assert [p.value for p in b] == [4.0, 5.0, None]
    assert all(pa.time is pb.time for pa, pb in zip(a, b))


def test_metric_point_is_slotted_frozen_and_hashable():
    point = MetricPoint(START, 2.5)
    assert not hasattr(point, "__dict__")
    assert point == MetricPoint(START, 2.5) and hash(point) == hash(MetricPoint(START, 2.5))
    with pytest.raises(AttributeError):
        point.value = 3.0  # type: ignore[misc]
