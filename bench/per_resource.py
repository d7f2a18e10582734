"""Baseline 1, "the per-resource way": what a hand-written capacity script does.

List the Web PubSub resources, then one ARM metrics call (`azure-mgmt-monitor` `metrics.list`)
per resource for the connection metrics, and flag those over a threshold. Threads give it the
same concurrency as the watchdog (WATCHDOG_CONCURRENCY, default 32), which is kinder than the
sequential loop most scripts have: its wall time is then bounded by ARM's read budget, not by
latency. It also raises the SDK's status retries: with azure-core's default (3 retries on a
throttled status) 16 threads meet a 429 they give up on after about 500 calls, and the script
dies; a careful author would raise it as here. Run inside the emulated Azure:
`python -m bench.per_resource`.
"""
from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from azure.identity import DefaultAzureCredential
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.webpubsub import WebPubSubManagementClient

# azure-core retries a 429 after its Retry-After; the status budget (default 3) is what runs out.
RETRIES = {"retry_total": 20, "retry_status": 20}
METRICS = "TotalConnectionCount,ConnectionQuotaUtilization,ServerLoad,ConnectionCloseCount"
THRESHOLD_PCT = 80.0
PER_UNIT = {"Free_F1": 20}  # every other SKU: 1,000 connections per unit


def main() -> int:
    subscription = os.environ["AZURE_SUBSCRIPTION_ID"]
    workers = int(os.environ.get("WATCHDOG_CONCURRENCY", "32"))
    credential = DefaultAzureCredential()
    resources = list(WebPubSubManagementClient(credential, subscription, **RETRIES).web_pub_sub.list_by_subscription())
    monitor = MonitorManagementClient(credential, subscription, **RETRIES)
    end = datetime.now(timezone.utc)
    timespan = f"{(end - timedelta(minutes=30)).isoformat()}/{end.isoformat()}"

    def utilisation(resource) -> float | None:  # noqa: ANN001 - an SDK model
        result = monitor.metrics.list(resource.id, timespan=timespan, interval="PT1M", metricnames=METRICS,
                                      aggregation="Maximum,Total")
        peak = max((point.maximum or 0.0 for metric in result.value if metric.name.value == "TotalConnectionCount"
                    for series in metric.timeseries for point in series.data), default=None)
        cap = PER_UNIT.get(resource.sku.name, 1000) * (resource.sku.capacity or 1)
        return None if peak is None else 100.0 * peak / cap

    with ThreadPoolExecutor(workers) as pool:
        values = list(pool.map(utilisation, resources))
    over = sum(1 for v in values if v is not None and v >= THRESHOLD_PCT)
    json.dump({"resources": len(resources), "over_threshold": over,
               "no_data": sum(v is None for v in values)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
