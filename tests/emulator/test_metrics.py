"""Fidelity of the emulated batch metrics API: the real MetricsClient (azure-monitor-querymetrics)
with DefaultAzureCredential against the emulator, and every raw body checked against
metricBatch.json."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential
from azure.monitor.querymetrics import MetricsClient, MetricsQueryResult

from emulator.runtime import Emulator
from tests.specs import validate_response

pytestmark = pytest.mark.integration

NS = "Microsoft.SignalRService/WebPubSub"
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"  # the demo's subscription
BATCH_SPEC = "monitor/data-plane/Microsoft.Insights/stable/2024-02-01/metricBatch.json"
BATCH_PATH = "/subscriptions/{subscriptionId}/metrics:getBatch"


def client(region: str = "eastus") -> MetricsClient:
    return MetricsClient(f"https://{region}.metrics.monitor.azure.com", DefaultAzureCredential())


def ids(emulator: Emulator, *names: str) -> list[str]:
    return [emulator.world.resource_by_name(n).id for n in names]


def by_resource(results: list[MetricsQueryResult], resource_ids: list[str]) -> dict[str, MetricsQueryResult]:
    """Results carry no resource id: map them back by each Metric.id prefix, as the watchdog must."""
    out = {}
    for result in results:
        metric_id = next(iter(result.metrics)).id.lower()
        out[next(r for r in resource_ids if metric_id.startswith(r.lower() + "/providers/microsoft.insights"))] = result
    return out


def latest(result: MetricsQueryResult, name: str, agg: str = "maximum") -> float | None:
    return getattr(result.metrics[name].timeseries[0].data[-1], agg)


def split(result: MetricsQueryResult, name: str = "ConnectionCloseCount") -> dict[str, float | None]:
    return {t.metadata_values["connectionclosecategory"]: t.data[-1].total for t in result.metrics[name].timeseries}


def raw_batch(resource_ids: list[str], region: str = "eastus", sub: str = SUB, token: bool = True,
              **params: str) -> requests.Response:
    query = {"api-version": "2024-02-01", "metricnamespace": NS, "metricnames": "TotalConnectionCount", **params}
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + DefaultAzureCredential().get_token(
            "https://metrics.monitor.azure.com/.default").token
    return requests.post(f"https://{region}.metrics.monitor.azure.com/subscriptions/{sub}/metrics:getBatch",
                         params=query, json={"resourceids": resource_ids}, headers=headers, timeout=30)


def checked(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    validate_response(BATCH_SPEC, BATCH_PATH, "POST", status, body)
    return body


def test_demo_metrics_map_back_to_each_resource(emulator: Emulator) -> None:
    rids = ids(emulator, "chat-prod", "notify-prod", "free-dev")
    results = client().query_resources(
        resource_ids=rids, metric_namespace=NS, timespan=timedelta(minutes=30), granularity=timedelta(minutes=5),
        metric_names=["TotalConnectionCount", "ConnectionQuotaUtilization"], aggregations=["Maximum", "Average"])
    got = by_resource(results, rids)
    chat, notify, free = (got[r] for r in rids)
    assert (latest(chat, "TotalConnectionCount"), latest(chat, "ConnectionQuotaUtilization")) == (1840, 92)
    assert latest(notify, "TotalConnectionCount") == 310
    assert latest(free, "TotalConnectionCount") == 20  # demand 26, Free caps at 20
    assert chat.granularity == timedelta(minutes=5) and chat.resource_region == "eastus"
    assert chat.namespace == NS.lower()
    assert chat.metrics["TotalConnectionCount"].unit == "Count"
    assert len(chat.metrics["TotalConnectionCount"].timeseries[0].data) in (6, 7)  # 30 minutes, 5-minute grain


def test_filter_splits_and_filters_close_categories(emulator: Emulator) -> None:
    rids = ids(emulator, "chat-prod", "notify-prod", "free-dev")
    every = by_resource(client().query_resources(
        resource_ids=rids, metric_namespace=NS, metric_names=["ConnectionCloseCount"], aggregations=["Total"],
        timespan=timedelta(minutes=10), filter="ConnectionCloseCategory eq '*'"), rids)
    assert split(every[rids[0]]) == {"Normal": 4, "Throttled": 0}  # chat-prod has room for its demand
    assert split(every[rids[1]]) == {"Normal": 12, "SendEventFailed": 7}
    assert split(every[rids[2]]) == {"Throttled": 1}  # free-dev: 6 refused -> ceil(6/10)
    throttled = by_resource(client().query_resources(
        resource_ids=rids, metric_namespace=NS, metric_names=["ConnectionCloseCount"], aggregations=["Total"],
        timespan=timedelta(minutes=10), filter="ConnectionCloseCategory eq 'Throttled'"), rids)
    assert split(throttled[rids[1]]) == {}
    assert split(throttled[rids[2]]) == {"Throttled": 1}
    unsplit = by_resource(client().query_resources(
        resource_ids=rids, metric_namespace=NS, metric_names=["ConnectionCloseCount"], aggregations=["Total"],
        timespan=timedelta(minutes=10)), rids)
    assert latest(unsplit[rids[1]], "ConnectionCloseCount", "total") == 19  # categories add up
    assert unsplit[rids[1]].metrics["ConnectionCloseCount"].timeseries[0].metadata_values == {}


def test_rollups_aggregate_the_minutes_of_each_grain(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory({"name": "rollup", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "eastus", "webpubsub": [{
            "name": "steady", "sku": "Standard_S1", "metrics": {"ConnectionOpenCount": 3, "ServerLoad": 40}}]}]}]})
    rid = ids(emu, "steady")
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    result = client().query_resources(
        resource_ids=rid, metric_namespace=NS, metric_names=["ConnectionOpenCount", "ServerLoad"],
        timespan=(end - timedelta(minutes=10), end), granularity=timedelta(minutes=5),
        aggregations=["Total", "Count", "Average", "Maximum"])[0]
    opens = result.metrics["ConnectionOpenCount"].timeseries[0].data
    assert [(p.timestamp, p.total, p.count) for p in opens] == [
        (end - timedelta(minutes=10), 15, 5), (end - timedelta(minutes=5), 15, 5)]
    assert {(p.average, p.maximum) for p in result.metrics["ServerLoad"].timeseries[0].data} == {(40, 40)}
    default = client().query_resources(resource_ids=rid, metric_namespace=NS, metric_names=["ConnectionOpenCount"],
                                       timespan=(end - timedelta(minutes=10), end))[0]
    point = default.metrics["ConnectionOpenCount"].timeseries[0].data[0]
    assert (point.total, point.maximum) == (3, None)  # a counter's primary aggregation is Total


def test_throttled_closes_follow_capacity(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory({"name": "busy", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "eastus", "webpubsub": [{"name": "busy", "sku": "Standard_S1", "units": 1,
                                                          "demand": 1840}]}]}]})
    rid = ids(emu, "busy")

    def now() -> MetricsQueryResult:
        return client().query_resources(
            resource_ids=rid, metric_namespace=NS, metric_names=["ConnectionCloseCount"], aggregations=["Total"],
            timespan=timedelta(minutes=5), filter="ConnectionCloseCategory eq 'Throttled'")[0]

    def connections() -> MetricsQueryResult:
        return client().query_resources(resource_ids=rid, metric_namespace=NS, timespan=timedelta(minutes=5),
                                        metric_names=["TotalConnectionCount", "ConnectionQuotaUtilization"])[0]

    assert split(now()) == {"Throttled": 84}  # 840 refused
    assert (latest(connections(), "TotalConnectionCount"), latest(connections(), "ConnectionQuotaUtilization")) == (
        1000, 100)
    emu.set_capacity("busy", 2)
    assert split(now()) == {"Throttled": 0}
    assert (latest(connections(), "TotalConnectionCount"), latest(connections(), "ConnectionQuotaUtilization")) == (
        1840, 92)


def refused(call) -> HttpResponseError:  # noqa: ANN001
    with pytest.raises(HttpResponseError) as info:
        call()
    return info.value


def test_refusals_like_azure(emulator: Emulator) -> None:
    east = ids(emulator, "chat-prod", "notify-prod")
    fake = [f"/subscriptions/{SUB}/resourceGroups/rg/providers/{NS}/wps-{i}" for i in range(51)]

    def query(resource_ids: list[str], region: str = "eastus", names: list[str] | None = None,
              **kw: Any) -> list[MetricsQueryResult]:
        return client(region).query_resources(resource_ids=resource_ids, metric_namespace=NS,
                                               metric_names=names or ["TotalConnectionCount"], **kw)

    assert len(query(fake[:50])) == 50
    too_many = refused(lambda: query(fake))
    assert (too_many.status_code, too_many.error.code) == (400, "BadRequest")
    assert "50" in too_many.message
    assert refused(lambda: query(east, region="westeurope")).status_code == 400
    assert refused(lambda: query(east + ids(emulator, "presence-eu"))).status_code == 400
    other_sub = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/" + NS + "/x"
    assert refused(lambda: query(east + [other_sub])).status_code == 400
    mixed = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
    assert refused(lambda: query(east + [mixed])).status_code == 400
    unknown = refused(lambda: query(east, names=["ConnectionCount"]))
    assert unknown.status_code == 400 and "Failed to find metric configuration" in unknown.message
    foreign_dim = refused(lambda: query(east, filter="ConnectionCloseCategory eq '*'"))
    assert "does not support requested dimension combination" in foreign_dim.message
    emulator.deny("metrics", "chat-prod")
    denied = refused(lambda: query(east))
    assert (denied.status_code, denied.error.code) == (403, "AuthorizationFailed")
    west = query(ids(emulator, "presence-eu", "telemetry-eu"), region="westeurope")
    assert {r.resource_region for r in west} == {"westeurope"}


def test_every_body_matches_the_spec(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory("demo")
    east = ids(emu, "chat-prod", "notify-prod", "free-dev")
    names = "TotalConnectionCount,ConnectionQuotaUtilization,ServerLoad,ConnectionOpenCount,InboundTraffic"
    checked(raw_batch(east, metricnames=names, aggregation="average,minimum,maximum,total,count"), 200)
    checked(raw_batch(east, metricnames="ConnectionCloseCount", filter="ConnectionCloseCategory eq '*'",
                      orderby="sum desc", top="1"), 200)
    checked(raw_batch(east, metricnames="ConnectionCloseCount", filter="ConnectionCloseCategory eq '*'",
                      rollupby="ConnectionCloseCategory", interval="FULL"), 200)
    missing = checked(raw_batch([f"/subscriptions/{SUB}/resourceGroups/rg/providers/{NS}/gone"]), 200)
    assert missing["values"][0]["value"][0]["errorCode"] == "ResourceNotFound"
    for bad in (dict(metricnames="ConnectionCount"), dict(interval="PT2M"), dict(aggregation="median")):
        checked(raw_batch(east, **bad), 400)
    checked(raw_batch(east, region="westeurope"), 400)
    checked(raw_batch(east, token=False), 401)
    emu.deny("metrics", "free-dev")
    checked(raw_batch(east), 403)


def test_throttling_answers_529_within_the_spec(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory({"name": "throttled", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "eastus", "webpubsub": [{"name": "one", "sku": "Standard_S1"}]}]}],
        "faults": {"metrics": {"throttle_every": 1, "retry_after": 7}}})
    response = raw_batch(ids(emu, "one"))
    assert response.headers["Retry-After"] == "7"
    checked(response, 529)
