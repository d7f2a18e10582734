"""Fidelity of the emulated ARM: the real azure-mgmt-webpubsub 2.0.0 and azure-mgmt-monitor 7.0.0
clients with DefaultAzureCredential (managed identity from the emulator) against it.

Every ARM response the SDKs receive is recorded by a raw-response hook and, where Microsoft's spec
is copied in tests/data/azure, validated against it when the test ends: a body that breaks
the spec fails the test. A completed operationResults body is validated as the definition it
carries (WebPubSubKeys or WebPubSubResource). Not validated against a spec (none copied; checked
field by field below instead): diagnostic settings (2021-05-01-preview), the activity log
(2015-04-01) and ARM's generic operationStatuses body. The metrics spec's `Metric` and its error
body live in files that were not copied, so those parts are unconstrained.
"""
from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.pipeline import PipelineResponse
from azure.core.rest import HttpRequest
from azure.identity import DefaultAzureCredential
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.webpubsub import WebPubSubManagementClient
from azure.mgmt.webpubsub.models import RegenerateKeyParameters, ResourceSku, WebPubSubResource

from emulator.runtime import Emulator
from tests.specs import SpecMismatch, validate_definition, validate_response

pytestmark = pytest.mark.integration

ARM = "https://management.azure.com"
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"  # the demo's subscription
WPS_SPEC = "webpubsub/resource-manager/Microsoft.SignalRService/stable/2024-03-01/webpubsub.json"
AUTOSCALE_SPEC = "monitor/resource-manager/Microsoft.Insights/stable/2022-10-01/autoscale_API.json"
METRICS_SPEC = "monitor/resource-manager/Microsoft.Insights/stable/2024-02-01/metrics_API.json"
_WPS = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.SignalRService/webPubSub"
SPEC_PATHS = [  # (spec file, path template exactly as in its "paths")
    (WPS_SPEC, "/subscriptions/{subscriptionId}/providers/Microsoft.SignalRService/webPubSub"),
    (WPS_SPEC, _WPS),
    (WPS_SPEC, _WPS + "/{resourceName}"),
    (WPS_SPEC, _WPS + "/{resourceName}/listKeys"),
    (WPS_SPEC, _WPS + "/{resourceName}/regenerateKey"),
    (WPS_SPEC, _WPS + "/{resourceName}/skus"),
    (WPS_SPEC, _WPS + "/{resourceName}/hubs"),
    (WPS_SPEC, _WPS + "/{resourceName}/replicas"),
    (WPS_SPEC, _WPS + "/{resourceName}/hubs/{hubName}"),
    (AUTOSCALE_SPEC, "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}"
                     "/providers/Microsoft.Insights/autoscalesettings"),
    (AUTOSCALE_SPEC, "/subscriptions/{subscriptionId}/providers/Microsoft.Insights/autoscalesettings"),
    (METRICS_SPEC, "/{resourceUri}/providers/Microsoft.Insights/metrics"),
]


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: ".+" if m.group(1) == "resourceUri" else "[^/]+",
                     re.escape(template))
    return re.compile(pattern + "/?", re.IGNORECASE)


SPEC_ROUTES = [(spec, template, _template_regex(template)) for spec, template in SPEC_PATHS]


@dataclass
class Seen:
    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or None for an empty body

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


class Recorder:
    """A raw_response_hook for the SDK clients: keeps every ARM response for spec validation."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []

    def __call__(self, response: PipelineResponse) -> None:
        http = response.http_response
        if urlsplit(http.request.url).hostname != "management.azure.com":
            return
        raw = http.body()
        self.seen.append(Seen(http.request.method, http.request.url, http.status_code, dict(http.headers),
                              json.loads(raw) if raw else None))

    def validate(self) -> int:
        """Validate every recorded body that a copied spec describes; the number validated."""
        count = 0
        for seen in self.seen:
            match = next(((s, t) for s, t, rx in SPEC_ROUTES if rx.fullmatch(seen.path)), None)
            if match is not None:
                validate_response(match[0], match[1], seen.method, seen.status, seen.body)
                count += 1
            elif "/operationresults/" in seen.path.lower() and seen.status == 200:
                # A completed operation's result is the operation's own body: keys or the resource.
                definition = "WebPubSubKeys" if "primaryKey" in seen.body else "WebPubSubResource"
                validate_definition(WPS_SPEC, definition, seen.body)
                count += 1
        return count

    def where(self, method: str, path_end: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.lower().endswith(path_end.lower())]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.validate()  # a body that breaks Microsoft's spec fails the test here


def demo(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load((Path(__file__).parents[2] / "emulator" / "scenarios" / "demo.yaml").read_text())
    data.update(changes)
    return data


@pytest.fixture
def wps(emulator: Emulator, recorder: Recorder) -> WebPubSubManagementClient:
    return WebPubSubManagementClient(DefaultAzureCredential(), SUB, raw_response_hook=recorder)


@pytest.fixture
def monitor(emulator: Emulator, recorder: Recorder) -> MonitorManagementClient:
    return MonitorManagementClient(DefaultAzureCredential(), SUB, raw_response_hook=recorder)


def rid(emu: Emulator, name: str) -> str:
    return emu.world.resource_by_name(name).id


def arm_get(client: WebPubSubManagementClient, path: str, api_version: str | None) -> Any:
    """A GET through the mgmt client's own pipeline (token, retries, hook), as the watchdog sends it."""
    url = f"{ARM}{path}" + (f"?api-version={api_version}" if api_version else "")
    return client._client.send_request(HttpRequest("GET", url))  # noqa: SLF001 - the watchdog's way too


# -- Web PubSub ------------------------------------------------------------------------------------

def test_list_by_subscription_follows_next_links_across_pages(
        emulator_factory: Callable[..., Emulator], recorder: Recorder) -> None:
    emu = emulator_factory(demo(page_size=2))
    client = WebPubSubManagementClient(DefaultAzureCredential(), SUB, raw_response_hook=recorder)
    names = [r.name for r in client.web_pub_sub.list_by_subscription()]
    assert sorted(names) == sorted(r.name for r in emu.world.resources.values()) and len(names) == 18
    pages = recorder.where("GET", "/providers/Microsoft.SignalRService/webPubSub")
    assert len(pages) == 9 and all(len(p.body["value"]) <= 2 for p in pages)
    assert "nextLink" not in pages[-1].body and "$skipToken=" in pages[0].body["nextLink"]
    assert [r.name for r in client.web_pub_sub.list_by_resource_group("rg-ops")] == [
        "feed-eu", "global-chat", "lobby-eu", "presence-eu", "private-eu", "telemetry-eu"]


def test_get_returns_the_full_resource(emulator: Emulator, wps: WebPubSubManagementClient) -> None:
    res = wps.web_pub_sub.get("rg-chat", "chat-prod")
    assert (res.id, res.type, res.location) == (rid(emulator, "chat-prod"), "Microsoft.SignalRService/WebPubSub",
                                                "eastus")
    assert (res.sku.name, res.sku.tier, res.sku.capacity) == ("Standard_S1", "Standard", 2)
    assert (res.host_name, res.provisioning_state, res.disable_local_auth) == (
        "chat-prod.webpubsub.azure.com", "Succeeded", False)
    assert res.tags["environment"] == "prod" and res.system_data.created_at is not None
    assert wps.web_pub_sub.get("rg-ops", "telemetry-eu").disable_local_auth is True


def test_paths_are_case_insensitive_like_arm(emulator: Emulator, wps: WebPubSubManagementClient) -> None:
    path = f"/SUBSCRIPTIONS/{SUB}/resourcegroups/RG-CHAT/providers/microsoft.signalrservice/WEBPUBSUB/Chat-Prod"
    response = arm_get(wps, path, "2024-03-01")
    assert response.status_code == 200 and response.json()["name"] == "chat-prod"


def test_list_keys_and_regenerate_key_change_the_keys(emulator: Emulator, wps: WebPubSubManagementClient,
                                                      recorder: Recorder) -> None:
    res = emulator.world.resource_by_name("chat-prod")
    keys = wps.web_pub_sub.list_keys("rg-chat", "chat-prod")
    assert (keys.primary_key, keys.secondary_key) == res.current_keys()
    assert keys.primary_connection_string == f"Endpoint=https://{res.host};AccessKey={keys.primary_key};Version=1.0;"
    new = wps.web_pub_sub.begin_regenerate_key("rg-chat", "chat-prod", RegenerateKeyParameters(key_type="Primary"),
                                               polling_interval=0.1).result()
    assert new.primary_key != keys.primary_key and new.secondary_key == keys.secondary_key
    assert new.primary_key == res.key("primary") == wps.web_pub_sub.list_keys("rg-chat", "chat-prod").primary_key
    accepted = recorder.where("POST", "/regenerateKey")[0]
    assert accepted.status == 202 and accepted.body["primaryKey"] == new.primary_key
    assert "/providers/Microsoft.SignalRService/locations/eastus/operationResults/" in accepted.headers["Location"]
    assert "/operationStatuses/" in accepted.headers["Azure-AsyncOperation"]
    statuses = [s.body["status"] for s in recorder.where("GET", "") if "/operationstatuses/" in s.path.lower()]
    assert statuses[-1] == "Succeeded" and set(statuses) <= {"InProgress", "Succeeded"}


def test_keys_are_refused_when_local_auth_is_disabled(emulator: Emulator, wps: WebPubSubManagementClient) -> None:
    with pytest.raises(HttpResponseError) as caught:
        wps.web_pub_sub.list_keys("rg-ops", "telemetry-eu")
    assert caught.value.status_code == 400 and caught.value.error.code == "BadRequest"


def test_update_scales_a_standard_resource_when_the_operation_completes(
        emulator: Emulator, wps: WebPubSubManagementClient, recorder: Recorder) -> None:
    poller = wps.web_pub_sub.begin_update("rg-chat", "chat-prod", WebPubSubResource(
        location="eastus", sku=ResourceSku(name="Standard_S1", capacity=3)), polling_interval=0.1)
    during = wps.web_pub_sub.get("rg-chat", "chat-prod")
    assert (during.provisioning_state, during.sku.capacity) == ("Updating", 2)
    with pytest.raises(HttpResponseError) as busy:  # one operation at a time, as ARM does
        wps.web_pub_sub.begin_update("rg-chat", "chat-prod", WebPubSubResource(
            location="eastus", sku=ResourceSku(name="Standard_S1", capacity=4)))
    assert busy.value.status_code == 409
    done = poller.result()
    assert (done.sku.capacity, done.provisioning_state) == (3, "Succeeded")
    assert emulator.world.resource_by_name("chat-prod").capacity == 3
    accepted = recorder.where("PATCH", "/webPubSub/chat-prod")[0]
    assert (accepted.status, accepted.body) == (202, None) and accepted.headers["Location"]
    final = [s for s in recorder.seen if "/operationresults/" in s.path.lower() and s.status == 200]
    assert final and final[-1].body["sku"]["capacity"] == 3  # spec-validated as WebPubSubResource


@pytest.mark.parametrize(("group", "name", "sku", "capacity", "words"), [
    ("rg-chat", "chat-prod", "Standard_S1", 11, "Allowed values: 1, 2, 3"),
    ("rg-chat", "free-dev", "Free_F1", 2, "Free tier does not support scaling"),
])
def test_update_refuses_capacities_azure_refuses(emulator: Emulator, wps: WebPubSubManagementClient, group: str,
                                                 name: str, sku: str, capacity: int, words: str) -> None:
    before = emulator.world.resource_by_name(name).capacity
    with pytest.raises(HttpResponseError) as caught:
        wps.web_pub_sub.begin_update(group, name, WebPubSubResource(
            location="eastus", sku=ResourceSku(name=sku, capacity=capacity))).result()
    assert caught.value.status_code == 400 and caught.value.error.code == "BadRequest"
    assert words in caught.value.error.message
    after = wps.web_pub_sub.get(group, name)
    assert (after.sku.capacity, after.provisioning_state) == (before, "Succeeded")


def test_list_skus_gives_the_allowed_unit_counts(wps: WebPubSubManagementClient) -> None:
    skus = {s.sku.name: s.capacity for s in wps.web_pub_sub.list_skus("rg-chat", "chat-prod").value}
    assert skus["Standard_S1"].allowed_values == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert skus["Free_F1"].allowed_values == [1]
    assert skus["Premium_P2"].allowed_values[0] == 100 and skus["Premium_P2"].maximum == 1000


def test_hubs_list_and_get_with_the_hub_first(wps: WebPubSubManagementClient) -> None:
    hubs = {h.name: h for h in wps.web_pub_sub_hubs.list("rg-chat", "notify-prod")}
    assert sorted(hubs) == ["notifications", "orders"]
    handler = hubs["notifications"].properties.event_handlers[0]
    assert (handler.url_template, handler.user_event_pattern, handler.system_events, handler.auth.type) == (
        "https://events.fabrikam.com/api/{hub}/{event}", "*", ["connect"], "None")
    hub = wps.web_pub_sub_hubs.get("orders", "rg-chat", "notify-prod")
    assert hub.id.endswith("/WebPubSub/notify-prod/hubs/orders")
    with pytest.raises(ResourceNotFoundError):
        wps.web_pub_sub_hubs.get("nope", "rg-chat", "notify-prod")


# -- Insights --------------------------------------------------------------------------------------

def test_diagnostic_settings_through_the_mgmt_pipeline(emulator: Emulator, wps: WebPubSubManagementClient) -> None:
    path = f"{rid(emulator, 'chat-prod')}/providers/Microsoft.Insights/diagnosticSettings"
    response = arm_get(wps, path, "2021-05-01-preview")
    assert response.status_code == 200
    (setting,) = response.json()["value"]
    workspace = emulator.world.workspaces[next(iter(emulator.world.workspaces))].id
    assert setting["properties"]["workspaceId"] == workspace
    assert setting["type"] == "Microsoft.Insights/diagnosticSettings"
    assert setting["id"].startswith(rid(emulator, "chat-prod"))
    assert {(log["category"], log["enabled"]) for log in setting["properties"]["logs"]} == {
        ("ConnectivityLogs", True), ("MessagingLogs", True), ("HttpRequestLogs", True)}
    assert setting["properties"]["metrics"][0]["category"] == "AllMetrics"
    free = arm_get(wps, f"{rid(emulator, 'free-dev')}/providers/Microsoft.Insights/diagnosticSettings",
                   "2021-05-01-preview")
    assert (free.status_code, free.json()) == (200, {"value": []})


def test_autoscale_settings_by_resource_group_and_subscription(emulator: Emulator,
                                                               monitor: MonitorManagementClient) -> None:
    (setting,) = monitor.autoscale_settings.list_by_resource_group("rg-ops")
    assert setting.target_resource_uri == rid(emulator, "telemetry-eu") and setting.enabled
    capacity = setting.profiles[0].capacity
    assert (capacity.minimum, capacity.maximum, capacity.default) == ("2", "6", "2")
    assert list(monitor.autoscale_settings.list_by_resource_group("rg-chat")) == []
    assert [s.name for s in monitor.autoscale_settings.list_by_subscription()] == [setting.name]


def test_metrics_one_resource_per_call_with_close_categories_split(emulator: Emulator,
                                                                   monitor: MonitorManagementClient) -> None:
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    timespan = f"{(end - timedelta(minutes=10)).isoformat()}/{end.isoformat()}"
    result = monitor.metrics.list(rid(emulator, "chat-prod"), timespan=timespan, interval="PT1M",
                                  metricnames="TotalConnectionCount,ConnectionQuotaUtilization",
                                  aggregation="Maximum,Average")
    assert result.interval == "PT1M" and result.resourceregion == "eastus"
    connections, utilisation = result.value
    assert connections.name.value == "TotalConnectionCount" and connections.unit == "Count"
    points = connections.timeseries[0].data
    assert len(points) == 10 and {p.maximum for p in points} == {1840.0}
    assert {p.average for p in utilisation.timeseries[0].data} == {92.0}
    closes = monitor.metrics.list(rid(emulator, "notify-prod"), timespan=timespan, interval="PT5M",
                                  metricnames="ConnectionCloseCount", aggregation="Total",
                                  filter="ConnectionCloseCategory eq '*'").value[0]
    by_category = {ts.metadatavalues[0].value: [p.total for p in ts.data] for ts in closes.timeseries}
    assert by_category == {"Normal": [60.0, 60.0], "SendEventFailed": [35.0, 35.0]}
    assert closes.timeseries[0].metadatavalues[0].name.value == "ConnectionCloseCategory"
    throttled = monitor.metrics.list(rid(emulator, "free-dev"), timespan=timespan, metricnames="ConnectionCloseCount",
                                     aggregation="Total", filter="ConnectionCloseCategory eq 'Throttled'").value[0]
    assert {p.total for p in throttled.timeseries[0].data} == {1.0}
    with pytest.raises(HttpResponseError) as caught:
        monitor.metrics.list(rid(emulator, "chat-prod"), metricnames="ConnectionCount")  # SignalR's, not ours
    assert caught.value.status_code == 400


def test_activity_log_shows_key_regenerations_and_writes(emulator: Emulator, wps: WebPubSubManagementClient,
                                                         monitor: MonitorManagementClient) -> None:
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    emulator.regenerate_key("presence-eu", "secondary")  # out of band: someone in the portal
    wps.web_pub_sub.begin_regenerate_key("rg-chat", "chat-prod", RegenerateKeyParameters(key_type="Primary"),
                                         polling_interval=0.1).result()
    flt = f"eventTimestamp ge '{start.isoformat()}' and resourceProvider eq 'Microsoft.SignalRService'"
    events = list(monitor.activity_logs.list(filter=flt))
    assert [(e.operation_name.value, e.resource_id.rsplit("/", 1)[-1]) for e in events] == [
        ("Microsoft.SignalRService/WebPubSub/regenerateKey/action", "chat-prod"),
        ("Microsoft.SignalRService/WebPubSub/regenerateKey/action", "presence-eu")]
    assert events[0].caller == emulator.world.principal_id and events[0].status.value == "Succeeded"
    only = list(monitor.activity_logs.list(filter=f"eventTimestamp ge '{start.isoformat()}' and resourceUri eq "
                                                  f"'{rid(emulator, 'presence-eu')}'", select="operationName"))
    assert len(only) == 1 and only[0].caller is None and only[0].operation_name.value.endswith("regenerateKey/action")
    later = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()
    assert list(monitor.activity_logs.list(filter=f"eventTimestamp ge '{later}'")) == []


# -- refusals as ARM words them --------------------------------------------------------------------

def test_unauthenticated_calls_get_401(emulator: Emulator) -> None:
    response = requests.get(f"{ARM}/subscriptions/{SUB}/providers/Microsoft.SignalRService/webPubSub",
                            params={"api-version": "2024-03-01"}, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "AuthenticationFailed"
    assert "WWW-Authenticate" in response.headers


def test_a_denied_action_answers_403_authorization_failed(emulator: Emulator,
                                                          wps: WebPubSubManagementClient) -> None:
    emulator.deny("arm", "notify-prod", "Microsoft.SignalRService/WebPubSub/listKeys/action")
    emulator.deny("arm", "free-dev", "Microsoft.SignalRService/WebPubSub/read")
    with pytest.raises(HttpResponseError) as caught:
        wps.web_pub_sub.list_keys("rg-chat", "notify-prod")
    oid, scope = emulator.world.principal_id, rid(emulator, "notify-prod")
    assert caught.value.status_code == 403 and caught.value.error.code == "AuthorizationFailed"
    assert caught.value.error.message == (
        f"The client '{oid}' with object id '{oid}' does not have authorization to perform action "
        f"'Microsoft.SignalRService/WebPubSub/listKeys/action' over scope '{scope}' or the scope is invalid. "
        "If access was recently granted, please refresh your credentials.")
    assert wps.web_pub_sub.get("rg-chat", "notify-prod").name == "notify-prod"  # reading is still allowed
    assert "free-dev" not in {r.name for r in wps.web_pub_sub.list_by_subscription()}  # ARM filters lists by RBAC


def test_unknown_resource_group_and_resource(wps: WebPubSubManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as resource:
        wps.web_pub_sub.get("rg-chat", "nope")
    assert resource.value.error.code == "ResourceNotFound"
    assert "'Microsoft.SignalRService/WebPubSub/nope' under resource group 'rg-chat'" in resource.value.error.message
    with pytest.raises(ResourceNotFoundError) as group:
        wps.web_pub_sub.get("rg-missing", "chat-prod")
    assert group.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError) as sub:
        WebPubSubManagementClient(DefaultAzureCredential(), "00000000-0000-0000-0000-000000000000").web_pub_sub.get(
            "rg-chat", "chat-prod")
    assert sub.value.error.code == "SubscriptionNotFound"


@pytest.mark.parametrize(("version", "code"), [
    (None, "MissingApiVersionParameter"),
    ("2023-02-01", "NoRegisteredProviderFound"),
    ("latest", "InvalidApiVersionParameter"),
])
def test_api_version_is_required_and_checked(emulator: Emulator, wps: WebPubSubManagementClient,
                                             version: str | None, code: str) -> None:
    response = arm_get(wps, rid(emulator, "chat-prod"), version)
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_arm_throttling_answers_429_and_the_sdk_retry_recovers(
        emulator_factory: Callable[..., Emulator], recorder: Recorder) -> None:
    emu = emulator_factory(demo(arm_throttling=True))
    emu.world.arm_reads_burst, emu.world.arm_reads_per_second = 2, 2.0  # tiny bucket, before the first call
    client = WebPubSubManagementClient(DefaultAzureCredential(), SUB, raw_response_hook=recorder)
    started = time.monotonic()
    names = [client.web_pub_sub.get("rg-chat", "chat-prod").name for _ in range(4)]
    assert names == ["chat-prod"] * 4 and time.monotonic() - started < 15
    throttled = [s for s in recorder.seen if s.status == 429]
    assert throttled and throttled[0].body["error"]["code"] == "TooManyRequests"
    assert int(throttled[0].headers["Retry-After"]) >= 1
    assert throttled[0].headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    ok = [s for s in recorder.seen if s.status == 200]
    assert all("x-ms-ratelimit-remaining-subscription-reads" in s.headers for s in ok)


def test_a_body_that_breaks_the_spec_fails(emulator: Emulator, wps: WebPubSubManagementClient,
                                           recorder: Recorder) -> None:
    wps.web_pub_sub.get("rg-chat", "chat-prod")
    assert recorder.validate() == 1
    broken = copy.deepcopy(recorder.seen[0].body)
    broken["properties"]["publicPort"] = "443"
    with pytest.raises(SpecMismatch):
        validate_response(WPS_SPEC, _WPS + "/{resourceName}", "GET", 200, broken)


def test_replicas_and_network_fields_follow_the_spec(emulator: Emulator, wps: WebPubSubManagementClient,
                                                     recorder: Recorder) -> None:
    [rep] = wps.web_pub_sub_replicas.list("rg-ops", "global-chat")
    assert (rep.name, rep.location, rep.sku.name, rep.sku.capacity) == ("global-chat-westus2", "westus2", "Premium_P1", 1)
    assert rep.id.lower() == (rid(emulator, "global-chat") + "/replicas/global-chat-westus2").lower()
    assert list(wps.web_pub_sub_replicas.list("rg-ops", "telemetry-eu")) == []
    private = wps.web_pub_sub.get("rg-ops", "private-eu")
    assert {c.name: c.private_link_service_connection_state.status for c in private.private_endpoint_connections} == {
        "pe-app": "Approved", "pe-analytics": "Pending"}
    acl = wps.web_pub_sub.get("rg-chat", "acl-chat").network_ac_ls
    assert (acl.default_action, acl.public_network.allow) == ("Deny", ["ClientConnection", "Trace"])
    assert wps.web_pub_sub.get("rg-chat", "stopped-qa").resource_stopped == "true"
    assert recorder.validate() >= 5  # every body above checked against the 2024-03-01 spec
