"""The fault model (emulator/faults.py) as the real Azure SDK clients see it.

Each case adds fault rules to a fresh demo emulator, makes one call through the SDK a watchdog
uses, and asserts what Azure's failure looks like to that SDK: exception type, status, error code
in the service's body, Retry-After honoured, an LRO poller raising on Failed, 404 after a deletion,
a partial Log Analytics result.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Callable

import pytest
import requests
from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceNotFoundError,
                                   ServiceRequestError, ServiceResponseError, ServiceResponseTimeoutError)
from azure.core.rest import HttpRequest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from azure.mgmt.webpubsub import WebPubSubManagementClient
from azure.mgmt.webpubsub.models import RegenerateKeyParameters, ResourceSku, WebPubSubResource
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsQueryStatus
from azure.monitor.querymetrics import MetricsClient

from emulator.runtime import Emulator
from tests.specs import validate_response

pytestmark = pytest.mark.integration

NS = "Microsoft.SignalRService/WebPubSub"
SECRET = "chat-prod-connection"  # in the demo's kv-demo-contoso
HOUR = timedelta(hours=1)


def wps(emu: Emulator) -> WebPubSubManagementClient:
    return WebPubSubManagementClient(DefaultAzureCredential(), emu.world.subscriptions[0])


def vault(emu: Emulator) -> SecretClient:
    return SecretClient(emu.vault_urls()[0], DefaultAzureCredential())


def rid(emu: Emulator, name: str = "chat-prod") -> str:
    return emu.world.resource_by_name(name).id


def workspace_id(emu: Emulator) -> str:
    return next(w for w in emu.world.workspaces.values() if w.name == "law-demo").customer_id


def diagnostics(emu: Emulator, **kw: Any) -> Any:
    client = wps(emu)
    response = client._client.send_request(HttpRequest(  # noqa: SLF001 - the mgmt pipeline, as the watchdog uses it
        "GET", f"https://management.azure.com{rid(emu)}/providers/Microsoft.Insights/diagnosticSettings",
        params={"api-version": "2021-05-01-preview"}), **kw)
    response.raise_for_status()
    return response.json()


# One SDK call per operation, as the watchdog makes it; `kw` carries per-call pipeline options.
CALLS: dict[str, Callable[..., Any]] = {
    "arm.get": lambda emu, **kw: wps(emu).web_pub_sub.get("rg-chat", "chat-prod", **kw),
    "arm.listBySubscription": lambda emu, **kw: list(wps(emu).web_pub_sub.list_by_subscription(**kw)),
    "arm.listKeys": lambda emu, **kw: wps(emu).web_pub_sub.list_keys("rg-chat", "chat-prod", **kw),
    "arm.diagnosticSettings": diagnostics,
    "metrics.getBatch": lambda emu, **kw: MetricsClient(
        "https://eastus.metrics.monitor.azure.com", DefaultAzureCredential()).query_resources(
        resource_ids=[rid(emu)], metric_namespace=NS, metric_names=["TotalConnectionCount"], **kw),
    "logs.query": lambda emu, **kw: LogsQueryClient(DefaultAzureCredential()).query_workspace(
        workspace_id(emu), "WebPubSubConnectivity", timespan=HOUR, **kw),
    "keyvault.getSecret": lambda emu, **kw: vault(emu).get_secret(SECRET, **kw),
    "keyvault.listSecrets": lambda emu, **kw: list(vault(emu).list_properties_of_secrets(**kw)),
    "keyvault.setSecret": lambda emu, **kw: vault(emu).set_secret("new-secret", "value", **kw),
    "dataplane.connectionExists": lambda emu, **kw: WebPubSubServiceClient.from_connection_string(
        emu.world.resource_by_name("chat-prod").connection_string("primary"), "chat").connection_exists("c-1", **kw),
}


_WPS = "webpubsub/resource-manager/Microsoft.SignalRService/stable/2024-03-01/webpubsub.json"
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.SignalRService/webPubSub"
_KV = "keyvault/data-plane/Microsoft.KeyVault/stable/7.5/secrets.json"
# Where Microsoft's spec defines each operation's error body: (spec file, path template, method).
SPECS: dict[str, tuple[str, str, str]] = {
    "arm.get": (_WPS, _RG + "/{resourceName}", "GET"),
    "arm.listBySubscription": (_WPS, "/subscriptions/{subscriptionId}/providers/Microsoft.SignalRService/webPubSub",
                               "GET"),
    "arm.listKeys": (_WPS, _RG + "/{resourceName}/listKeys", "POST"),
    "metrics.getBatch": ("monitor/data-plane/Microsoft.Insights/stable/2024-02-01/metricBatch.json",
                         "/subscriptions/{subscriptionId}/metrics:getBatch", "POST"),
    "logs.query": ("operationalinsights/data-plane/Microsoft.OperationalInsights/stable/2022-10-27/"
                   "OperationalInsights.json", "/workspaces/{workspaceId}/query", "POST"),
    "keyvault.getSecret": (_KV, "/secrets/{secret-name}/{secret-version}", "GET"),
    "keyvault.setSecret": (_KV, "/secrets/{secret-name}", "PUT"),
    "keyvault.listSecrets": (_KV, "/secrets", "GET"),
}


FORBIDDEN = {
    "arm.get": "perform action 'Microsoft.SignalRService/WebPubSub/read' over scope '{rid}'",
    "metrics.getBatch": "perform action 'Microsoft.Insights/Metrics/Read' over scope '{rid}'",
    "logs.query": "insufficient access to perform the requested operation",
    "keyvault.getSecret": "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'",
}


def calls_of(emu: Emulator, op: str) -> list:  # noqa: ANN201 - JournalEntry
    return emu.journal.where(op=op)


# -- error statuses: every status in its service's shape ---------------------------------------------

STATUS_CASES = [
    # (operation, status, exception the SDK raises, error code in the body; None: HEAD has no body)
    ("arm.get", 403, HttpResponseError, "AuthorizationFailed"),
    ("arm.get", 404, ResourceNotFoundError, "ResourceNotFound"),
    ("arm.listBySubscription", 429, HttpResponseError, "TooManyRequests"),
    ("arm.listKeys", 500, HttpResponseError, "InternalServerError"),
    ("arm.diagnosticSettings", 503, HttpResponseError, "ServiceUnavailable"),
    ("metrics.getBatch", 403, HttpResponseError, "AuthorizationFailed"),
    ("metrics.getBatch", 529, HttpResponseError, "TooManyRequests"),
    ("metrics.getBatch", 500, HttpResponseError, "InternalServerError"),
    ("logs.query", 403, HttpResponseError, "InsufficientAccessError"),
    ("logs.query", 429, HttpResponseError, "ThrottledError"),
    ("logs.query", 503, HttpResponseError, "ServiceUnavailableError"),
    ("keyvault.getSecret", 403, HttpResponseError, "Forbidden"),
    ("keyvault.getSecret", 404, ResourceNotFoundError, "SecretNotFound"),
    ("keyvault.setSecret", 429, HttpResponseError, "Throttled"),
    ("keyvault.listSecrets", 500, HttpResponseError, "InternalServerError"),
    ("dataplane.connectionExists", 503, HttpResponseError, None),
]


@pytest.mark.parametrize("op, status, exception, code", STATUS_CASES, ids=[f"{c[0]}-{c[1]}" for c in STATUS_CASES])
def test_a_status_fault_reaches_the_sdk_as_azure_sends_it(emulator: Emulator, op: str, status: int,
                                                          exception: type[Exception], code: str | None) -> None:
    service, name = op.split(".")
    throttling = status in (429, 503, 529)
    emulator.faults.add(service=service, operation=name, status=status, retry_after=2 if throttling else None)
    with pytest.raises(exception) as caught:
        CALLS[op](emulator, retry_total=0)
    assert caught.value.status_code == status
    if code is not None:
        assert caught.value.response.json()["error"]["code"] == code
    if op in SPECS:
        validate_response(*SPECS[op], status, caught.value.response.json())
    if op.startswith("keyvault") and status == 403:
        assert caught.value.response.json()["error"]["innererror"] == {"code": "ForbiddenByRbac"}
    if status == 403:  # the service's own words, naming the right that is missing as Azure does
        assert FORBIDDEN[op].format(rid=rid(emulator)) in caught.value.response.json()["error"]["message"]
    assert ("Retry-After" in caught.value.response.headers) == throttling
    if throttling:
        assert caught.value.response.headers["Retry-After"] == "2"
    (entry,) = calls_of(emulator, op)
    assert (entry.status, entry.faults) == (status, "f1")


RETRY_CASES = [("arm.listBySubscription", 429), ("metrics.getBatch", 529), ("logs.query", 503),
               ("keyvault.getSecret", 429), ("arm.get", 500)]


@pytest.mark.parametrize("op, status", RETRY_CASES, ids=[f"{c[0]}-{c[1]}" for c in RETRY_CASES])
def test_a_transient_fault_is_retried_after_its_retry_after(emulator: Emulator, op: str, status: int) -> None:
    service, name = op.split(".")
    emulator.faults.add(service=service, operation=name, status=status, times=1, retry_after=1)
    assert CALLS[op](emulator) is not None
    entries = calls_of(emulator, op)
    assert entries[0].status == status and entries[-1].status == 200
    if status != 500:  # a 500 carries no Retry-After: the SDK's own backoff applies
        assert (entries[1].at - entries[0].at).total_seconds() >= 0.9


def test_from_call_and_times_bound_a_fault(emulator: Emulator) -> None:
    emulator.faults.add(service="arm", operation="get", status=503, from_call=2, times=2)
    for _ in range(5):
        try:
            CALLS["arm.get"](emulator, retry_total=0)
        except HttpResponseError:
            pass
    assert [e.status for e in calls_of(emulator, "arm.get")] == [200, 503, 503, 200, 200]


# -- time: latency, hangs, trickling bodies, resets ---------------------------------------------------

def test_latency_delays_the_answer(emulator: Emulator) -> None:
    emulator.faults.add(service="arm", operation="get", latency_ms=400)
    started = time.perf_counter()
    assert CALLS["arm.get"](emulator).name == "chat-prod"
    assert time.perf_counter() - started >= 0.4
    assert calls_of(emulator, "arm.get")[0].duration_ms >= 400


@pytest.mark.parametrize("op", ["keyvault.getSecret", "metrics.getBatch", "arm.get"])
def test_a_hang_ends_in_the_clients_read_timeout(emulator: Emulator, op: str) -> None:
    service, name = op.split(".")
    emulator.faults.add(service=service, operation=name, hang=True)
    started = time.perf_counter()
    with pytest.raises(ServiceResponseTimeoutError):
        CALLS[op](emulator, retry_total=0, read_timeout=1)
    assert time.perf_counter() - started < 5


def test_a_trickled_body_outlives_a_read_timeout_it_never_trips(emulator: Emulator) -> None:
    sizes: list[int] = []
    CALLS["keyvault.getSecret"](emulator, raw_response_hook=lambda r: sizes.append(len(r.http_response.body())))
    emulator.faults.add(service="keyvault", operation="getSecret", trickle_bps=200)
    started = time.perf_counter()
    secret = CALLS["keyvault.getSecret"](emulator, retry_total=0, read_timeout=1)
    elapsed = time.perf_counter() - started
    assert secret.name == SECRET
    assert elapsed >= sizes[-1] / 200 * 0.9 and elapsed > 1.5  # longer than the read timeout, yet no timeout


@pytest.mark.parametrize("op", ["arm.get", "keyvault.getSecret", "logs.query"])
def test_a_reset_drops_the_connection_without_an_answer(emulator: Emulator, op: str) -> None:
    service, name = op.split(".")
    emulator.faults.add(service=service, operation=name, reset=True)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        CALLS[op](emulator, retry_total=0)
    assert [e.status for e in calls_of(emulator, op)] == [0]


# -- results that are not what they seem: partial logs, failed LROs, deleted resources ---------------

def test_a_partial_log_result_reaches_the_sdk_as_logs_query_partial_result(emulator: Emulator) -> None:
    emulator.faults.add(service="logs", operation="query", partial="Query exceeded the memory limit.")
    result = CALLS["logs.query"](emulator)
    assert isinstance(result, LogsQueryPartialResult) and result.status == LogsQueryStatus.PARTIAL
    assert result.partial_error.code == "PartialError"
    assert result.partial_error.details[0]["message"] == "Query exceeded the memory limit."
    assert result.partial_data and len(result.partial_data[0].rows) > 0  # the rows it did get


@pytest.mark.parametrize("outcome", ["Failed", "Canceled"])
def test_a_scale_lro_that_fails_raises_from_the_poller_and_changes_nothing(emulator: Emulator, outcome: str) -> None:
    client = wps(emulator)
    before = client.web_pub_sub.get("rg-chat", "chat-prod").sku.capacity
    emulator.faults.add(service="arm", operation="update", lro=outcome, code="ScaleFailed", times=1)
    poller = client.web_pub_sub.begin_update("rg-chat", "chat-prod", WebPubSubResource(
        location="eastus", sku=ResourceSku(name="Standard_S1", capacity=before + 1)), polling_interval=0.1)
    with pytest.raises(HttpResponseError) as caught:
        poller.result()
    assert poller.status() == outcome
    if outcome == "Failed":
        assert caught.value.error.code == "ScaleFailed"
    after = client.web_pub_sub.get("rg-chat", "chat-prod")
    assert (after.sku.capacity, after.provisioning_state) == (before, outcome)
    # The next attempt (the fault is spent) is accepted and applies.
    client.web_pub_sub.begin_update("rg-chat", "chat-prod", WebPubSubResource(
        location="eastus", sku=ResourceSku(name="Standard_S1", capacity=before + 1)), polling_interval=0.1).result()
    assert client.web_pub_sub.get("rg-chat", "chat-prod").sku.capacity == before + 1


def test_a_slow_lro_stays_in_progress_and_is_polled_at_most_every_10_s(emulator: Emulator) -> None:
    client = wps(emulator)
    emulator.faults.add(service="arm", operation="update", lro_seconds=600)
    poller = client.web_pub_sub.begin_update("rg-chat", "chat-prod", WebPubSubResource(
        location="eastus", sku=ResourceSku(name="Standard_S1", capacity=3)), polling_interval=0.1)
    poller.wait(timeout=1.5)
    assert not poller.done() and poller.status() == "InProgress"
    assert client.web_pub_sub.get("rg-chat", "chat-prod").provisioning_state == "Updating"
    (accepted,) = [e for e in calls_of(emulator, "arm.update")]
    assert accepted.status == 202
    polled = calls_of(emulator, "arm.operation")[-1]  # the poller's own status URL
    status = requests.get(f"https://management.azure.com{polled.path}?{polled.query}", timeout=5,
                          headers={"Authorization": "Bearer " + DefaultAzureCredential().get_token(
                              "https://management.azure.com/.default").token})
    assert status.json()["status"] == "InProgress" and status.headers["Retry-After"] == "10"


def test_a_hang_of_some_seconds_then_answers_its_status(emulator: Emulator) -> None:
    emulator.faults.add(service="metrics", operation="getBatch", hang=1.5, status=503, retry_after=0)
    started = time.perf_counter()
    with pytest.raises(HttpResponseError) as caught:
        CALLS["metrics.getBatch"](emulator, retry_total=0, read_timeout=5)
    assert caught.value.status_code == 503 and time.perf_counter() - started >= 1.5


def test_a_regenerate_key_lro_that_fails_keeps_the_keys(emulator: Emulator) -> None:
    client = wps(emulator)
    keys = client.web_pub_sub.list_keys("rg-chat", "chat-prod")
    emulator.faults.add(service="arm", operation="regenerateKey", lro="Failed")
    with pytest.raises(HttpResponseError) as caught:
        client.web_pub_sub.begin_regenerate_key("rg-chat", "chat-prod", RegenerateKeyParameters(key_type="Primary"),
                                                polling_interval=0.1).result()
    assert caught.value.error.code == "InternalServerError"
    assert client.web_pub_sub.list_keys("rg-chat", "chat-prod").primary_key == keys.primary_key


def _deleted_between_discovery_and_collection(emu: Emulator) -> list[str]:
    emu.faults.add(service="arm", operation="listBySubscription", delete="chat-prod", times=1)
    return [r.name for r in CALLS["arm.listBySubscription"](emu)]


DELETIONS: dict[str, Callable[[Emulator], list[str]]] = {
    "fault after discovery": _deleted_between_discovery_and_collection,
    "control call": lambda emu: (emu.delete_resource("chat-prod"), [])[1],
    "admin API": lambda emu: (requests.post(f"{emu.env['EMULATOR_ADMIN_URL']}/delete-resource",
                                            json={"resource": "chat-prod"}, timeout=5).raise_for_status(), [])[1],
}


@pytest.mark.parametrize("how", list(DELETIONS))
def test_a_deleted_resource_answers_404_resource_not_found(emulator: Emulator, how: str) -> None:
    plane = WebPubSubServiceClient.from_connection_string(
        emulator.world.resource_by_name("chat-prod").connection_string("primary"), "chat")
    discovered = DELETIONS[how](emulator)
    if how == "fault after discovery":
        assert "chat-prod" in discovered  # the list still had it: it went right after
    with pytest.raises(ResourceNotFoundError) as caught:
        CALLS["arm.get"](emulator)
    assert caught.value.error.code == "ResourceNotFound"
    assert "chat-prod" not in [r.name for r in CALLS["arm.listBySubscription"](emulator)]
    with pytest.raises(ResourceNotFoundError):
        CALLS["arm.listKeys"](emulator)
    assert emulator.world.activity[-1].operation == f"{NS}/delete"
    with pytest.raises(ServiceRequestError, match="Failed to resolve host"):  # its data-plane name is gone
        plane.connection_exists("c-1", retry_total=0)


# -- customer hosts and the managed identity --------------------------------------------------------

def test_a_slow_notification_target_answers_2xx_late(emulator: Emulator) -> None:
    emulator.faults.add(service="customer", resource="hooks.contoso.com", latency_ms=1200)
    started = time.perf_counter()
    response = requests.post("https://hooks.contoso.com/alert", json={"x": 1}, timeout=(2, 5))
    assert response.status_code == 200 and time.perf_counter() - started >= 1.2
    requests.post("https://handler.contoso.com/x", json={}, timeout=(2, 5))  # another host: no delay
    assert [e.duration_ms >= 1200 for e in emulator.journal.where(service="customer")] == [True, False]
    assert len(emulator.deliveries("hooks.contoso.com")) == 1


def test_a_notification_target_failing_its_first_calls_then_recovers(emulator: Emulator) -> None:
    emulator.faults.add(service="customer", resource="prod-27.westeurope.logic.azure.com", status=503, times=2,
                        retry_after=0)
    answers = [requests.post("https://prod-27.westeurope.logic.azure.com/workflows/x", json={}, timeout=5)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 202]
    assert answers[0].headers["Retry-After"] == "0"
    assert [d.status for d in emulator.deliveries("prod-27.westeurope.logic.azure.com")] == [503, 503, 202]


@pytest.mark.parametrize("effect, error", [({"hang": True}, requests.exceptions.ReadTimeout),
                                           ({"reset": True}, requests.exceptions.ConnectionError)])
def test_a_notification_left_unanswered_still_counts_as_received(emulator: Emulator, effect: dict,
                                                                 error: type[Exception]) -> None:
    emulator.faults.add(service="customer", resource="hooks.contoso.com", times=1, **effect)
    with pytest.raises(error):
        requests.post("https://hooks.contoso.com/alert", json={"n": 1}, timeout=(2, 1))
    assert requests.post("https://hooks.contoso.com/alert", json={"n": 1}, timeout=(2, 5)).status_code == 200
    # The receiver may have acted on the first: a retry is a second delivery of the same message.
    assert [(d.status, d.json()) for d in emulator.deliveries("hooks.contoso.com")] == [(0, {"n": 1}), (200, {"n": 1})]


def test_the_managed_identity_endpoint_fails_as_configured(emulator: Emulator) -> None:
    emulator.faults.add(service="identity", status=500, times=1)
    assert ManagedIdentityCredential().get_token("https://vault.azure.net/.default").token  # the SDK retries
    assert [e.status for e in emulator.journal.where(service="identity")] == [500, 200]
    emulator.faults.add(service="identity", status=400)
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token("https://management.azure.com/.default")
