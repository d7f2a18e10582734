"""Only Azure SDKs and DefaultAzureCredential, nothing of the emulator: proof that it passes for Azure.

    python -m emulator run --scenario demo -- python emulator/examples/sdk_tour.py

Prints one line per step; exits non-zero on the first step Azure (or the emulator) gets wrong.
"""
from __future__ import annotations

import os
from datetime import timedelta

from azure.core.rest import HttpRequest
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.webpubsub import WebPubSubManagementClient
from azure.mgmt.webpubsub.models import RegenerateKeyParameters, ResourceSku, WebPubSubResource
from azure.monitor.query import LogsQueryClient
from azure.monitor.querymetrics import MetricsClient

credential = DefaultAzureCredential()
subscription = os.environ["AZURE_SUBSCRIPTION_ID"]
wps = WebPubSubManagementClient(credential, subscription)


def step(name: str, value: object) -> None:
    print(f"{name:<28} {value}")


resources = list(wps.web_pub_sub.list_by_subscription())
step("resources", sorted(r.name for r in resources))
chat = next(r for r in resources if r.name == "chat-prod")
group = chat.id.split("/")[4]
keys = wps.web_pub_sub.list_keys(group, chat.name)
step("listKeys", f"primary key of {len(keys.primary_key)} characters")
step("hubs", [h.name for h in wps.web_pub_sub_hubs.list(group, chat.name)])
step("skus", [s.capacity.allowed_values[:3] for s in wps.web_pub_sub.list_skus(group, chat.name).value][:2])
diag = wps._client.send_request(HttpRequest(
    "GET", f"https://management.azure.com{chat.id}/providers/Microsoft.Insights/diagnosticSettings",
    params={"api-version": "2021-05-01-preview"}))
diag.raise_for_status()
workspace_id = diag.json()["value"][0]["properties"]["workspaceId"]
step("diagnostic settings", workspace_id.rsplit("/", 1)[-1])
monitor = MonitorManagementClient(credential, subscription)
step("autoscale settings", [a.name for a in monitor.autoscale_settings.list_by_subscription()])

metrics = MetricsClient(f"https://{chat.location}.metrics.monitor.azure.com", credential)
batch = metrics.query_resources(resource_ids=[chat.id], metric_namespace="Microsoft.SignalRService/WebPubSub",
                                metric_names=["TotalConnectionCount"], timespan=timedelta(minutes=10),
                                granularity=timedelta(minutes=1), aggregations=["Maximum"])
step("batch metrics", max(p.maximum for p in batch[0].metrics[0].timeseries[0].data))
logs = LogsQueryClient(credential).query_resource(workspace_id, "WebPubSubConnectivity | take 10",
                                                  timespan=timedelta(hours=1))
step("log rows", len(logs.tables[0].rows))

vault = SecretClient("https://kv-demo-contoso.vault.azure.net", credential)
secret = vault.get_secret("presence-connection")
step("get secret", f"version {secret.properties.version[:8]}")
written = vault.set_secret("sdk-tour", "not a secret", content_type="text/plain", tags={"by": "sdk-tour"})
step("set secret", f"version {written.properties.version[:8]}")

before = keys.primary_key
wps.web_pub_sub.begin_regenerate_key(group, chat.name, RegenerateKeyParameters(key_type="Primary")).result()
step("regenerateKey", wps.web_pub_sub.list_keys(group, chat.name).primary_key != before)
scaled = wps.web_pub_sub.begin_update(group, chat.name, WebPubSubResource(
    location=chat.location, sku=ResourceSku(name="Standard_S1", capacity=3)), polling_interval=0.2).result()
step("scale", f"{chat.sku.capacity} -> {scaled.sku.capacity} units")
if scaled.sku.capacity != 3:
    raise SystemExit("scaling did not take effect")
