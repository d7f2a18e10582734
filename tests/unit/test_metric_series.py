"""The compact metric series folded from getBatch bodies: slotted points, one shared datetime per
minute, values unchanged; Microsoft's own example body folds as its numbers say."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from watchdog.collect import metrics
from watchdog.models import MetricPoint

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
IDS = ["/subscriptions/s/resourceGroups/g/providers/Microsoft.SignalRService/WebPubSub/a",
       "/subscriptions/s/resourceGroups/g/providers/Microsoft.SignalRService/WebPubSub/b"]


EXAMPLE = (Path(__file__).parents[1] / "data" / "azure" / "monitor" / "data-plane" / "Microsoft.Insights" / "stable"
           / "2024-02-01" / "examples" / "MetricBatchExample.json")


def _body(rid: str, values: list[float | None]) -> dict:
    """A getBatch body as metricBatch.json shapes it (a point without the value leaves it out)."""
    data = [{"timeStamp": (START + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
             **({} if v is None else {"maximum": v})} for i, v in enumerate(values)]
    metric = {"id": f"{rid}/providers/Microsoft.Insights/metrics/TotalConnectionCount", "type": "Microsoft.Insights/metrics",
              "name": {"value": "TotalConnectionCount"}, "unit": "Count", "timeseries": [{"metadatavalues": [], "data": data}]}
    return {"values": [{"starttime": "x", "endtime": "y", "value": [metric]}]}


def test_points_keep_their_values_and_share_one_datetime_per_minute():
    acc: dict = {}
    stamps: dict = {}
    metric_set = metrics.METRIC_SETS[0]
    metrics.fold(_body(IDS[0], [1.0, None, 3.0]), metric_set, IDS, acc, stamps)
    metrics.fold(_body(IDS[1], [4.0, 5.0, None]), metric_set, IDS, acc, stamps)

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


def test_microsofts_example_body_folds_per_resource_with_its_values():
    example = json.loads(EXAMPLE.read_text())
    ids = example["parameters"]["batchRequest"]["resourceids"]
    body = example["responses"]["200"]["body"]
    wanted = metrics.MetricSet((("Ingress", "Average"), ("Egress", "Average")))
    acc: dict = {}
    metrics.fold(body, wanted, ids, acc)
    for result in body["values"]:
        for metric in result["value"]:
            rid = metric["id"].split("/providers/Microsoft.Insights/metrics/")[0].lower()
            got = acc[rid].series[f"{metric['name']['value']}:Average"]
            expected = [p.get("average") for ts in metric["timeseries"] for p in ts["data"]]
            assert [p.value for p in got] == expected and expected
            assert got[0].time == datetime.fromisoformat(metric["timeseries"][0]["data"][0]["timeStamp"].replace("Z", "+00:00"))


def test_close_counts_sum_per_category_and_a_missing_dimension_counts_as_unknown():
    rid = IDS[0]
    series = [({"name": {"value": "connectioncloseategory"}, "value": "x"}, [1.0]),
              ({"name": {"value": "connectionclosecategory"}, "value": "Normal"}, [2.0, 3.0]),
              (None, [4.0])]
    body = {"values": [{"value": [{"id": f"{rid}/providers/Microsoft.Insights/metrics/ConnectionCloseCount",
                                   "name": {"value": "ConnectionCloseCount"},
                                   "timeseries": [{"metadatavalues": [] if m is None else [m],
                                                   "data": [{"timeStamp": "2026-01-01T00:00:00Z", "total": v} for v in vs]}
                                                  for m, vs in series]}]}]}
    acc: dict = {}
    metrics.fold(body, metrics.METRIC_SETS[1], IDS, acc)
    assert acc[rid.lower()].close_counts == {"Unknown": 5.0, "Normal": 5.0}
