"""The emulator's Event Grid: changes made through the real SDKs (and by the world itself) reach
an endpoint as Microsoft's system events, after the delay, retried as Event Grid retries."""
from __future__ import annotations

import pytest
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
from azure.mgmt.webpubsub import WebPubSubManagementClient
from azure.mgmt.webpubsub.models import RegenerateKeyParameters, ResourceSku, WebPubSubResource

from emulator.eventgrid import EventGrid
from emulator.runtime import Emulator

pytestmark = pytest.mark.integration
NOW = {"delay_seconds": 0, "jitter_seconds": 0, "retry_seconds": [0.05]}


class Endpoint:
    """Answers each POST with the next status of `statuses` (then 200), recording the batches."""

    def __init__(self, *statuses: int) -> None:
        self.statuses, self.batches = list(statuses), []

    def __call__(self, batch: list[dict]) -> int:
        self.batches.append(batch)
        return self.statuses.pop(0) if self.statuses else 200


def test_sdk_changes_arrive_as_microsofts_events(emulator: Emulator) -> None:
    endpoint = Endpoint()
    res = emulator.world.resource_by_name("chat-prod")
    wps = WebPubSubManagementClient(DefaultAzureCredential(), res.subscription_id)
    with EventGrid(emulator.world, endpoint, **NOW) as grid:
        wps.web_pub_sub.begin_regenerate_key("rg-chat", "chat-prod", RegenerateKeyParameters(key_type="Primary"),
                                             polling_interval=0.1).result()
        wps.web_pub_sub.begin_update("rg-chat", "chat-prod", WebPubSubResource(
            location="eastus", sku=ResourceSku(name="Standard_S1", capacity=5)), polling_interval=0.1).result()
        SecretClient("https://kv-demo-contoso.vault.azure.net", DefaultAzureCredential()).set_secret("other", "v")
        emulator.world.delete_resource(res.id)
        assert grid.drain(30)
    events = [batch[0] for batch in endpoint.batches]
    assert [e["eventType"] for e in events] == [
        "Microsoft.Resources.ResourceActionSuccess", "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.KeyVault.SecretNewVersionCreated", "Microsoft.Resources.ResourceDeleteSuccess"]
    regen, write, secret, delete = events
    assert regen["data"]["operationName"] == "Microsoft.SignalRService/WebPubSub/regenerateKey/action"
    assert regen["data"]["resourceUri"] == regen["subject"] == res.id and regen["data"]["status"] == "Succeeded"
    assert regen["topic"] == f"/subscriptions/{res.subscription_id}"
    assert write["data"]["operationName"] == "Microsoft.SignalRService/WebPubSub/write"
    assert delete["data"]["operationName"] == "Microsoft.SignalRService/WebPubSub/delete"
    version = emulator.world.vaults["kv-demo-contoso"].latest("other").version
    assert secret["data"] | {"NBF": None, "EXP": None} == {
        "Id": f"https://kv-demo-contoso.vault.azure.net/secrets/other/{version}", "VaultName": "kv-demo-contoso",
        "ObjectType": "Secret", "ObjectName": "other", "Version": version, "NBF": None, "EXP": None}
    assert secret["topic"].endswith("/providers/Microsoft.KeyVault/vaults/kv-demo-contoso")


def test_non_2xx_is_retried_and_what_runs_out_or_is_refused_is_dead_lettered(emulator: Emulator) -> None:
    endpoint = Endpoint(500, 503, 200, 500, 400, 500, 500, 500)
    with EventGrid(emulator.world, endpoint, max_attempts=3, **NOW) as grid:
        for _ in range(3):
            emulator.regenerate_key("chat-prod")
            assert grid.drain(30)
    assert [(s.attempts, s.status, s.dead_lettered) for s in grid.sent] == [
        (3, 200, False),  # 500, 503, then delivered
        (2, 400, True),  # 400 is not retried
        (3, 500, True)]  # out of attempts
    assert grid.dead_letters == grid.sent[1:]


def test_the_cloud_events_schema_after_a_delay(emulator: Emulator) -> None:
    endpoint = Endpoint()
    with EventGrid(emulator.world, endpoint, schema="cloudevents", delay_seconds=0.2, jitter_seconds=0.1) as grid:
        emulator.regenerate_key("chat-prod")
        assert grid.drain(30)
    (event,) = endpoint.batches[0]
    assert event["specversion"] == "1.0" and event["type"] == "Microsoft.Resources.ResourceActionSuccess"
    assert event["source"].startswith("/subscriptions/") and "eventType" not in event
