"""Fidelity of the emulated Web PubSub data plane: the real azure-messaging-webpubsubservice client
(access-key JWTs from a connection string, or DefaultAzureCredential) against it, and every
emulated body checked against Microsoft's 2024-12-01 data-plane spec."""
from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from emulator.runtime import Emulator
from tests.specs import validate_response

pytestmark = pytest.mark.integration

SPEC = "webpubsub/data-plane/WebPubSub/stable/2024-12-01/webpubsub.json"
API = "api-version=2024-12-01"


def client_for(emulator: Emulator, resource: str, key: str, hub: str = "chat") -> WebPubSubServiceClient:
    res = emulator.world.resource_by_name(resource)
    return WebPubSubServiceClient.from_connection_string(f"Endpoint=https://{res.host};AccessKey={key};Version=1.0;", hub)


def entra_client(emulator: Emulator, resource: str, hub: str = "chat") -> WebPubSubServiceClient:
    host = emulator.world.resource_by_name(resource).host
    return WebPubSubServiceClient(f"https://{host}", hub, DefaultAzureCredential())


# -- the SDK ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["primary", "secondary"])
def test_a_current_key_proves_itself_with_a_404(emulator: Emulator, which: str) -> None:
    res = emulator.world.resource_by_name("chat-prod")
    client = WebPubSubServiceClient.from_connection_string(res.connection_string(which), "chat")
    assert client.connection_exists("probe-7f3a") is False
    assert client.user_exists("nobody") is False and client.group_exists("nothing") is False
    assert [e.status for e in emulator.journal.where(host=res.host)] == [404, 404, 404]
    assert all(API in e.query for e in emulator.journal.where(host=res.host))


@pytest.mark.parametrize("which", ["primary", "secondary"])
def test_a_stale_key_is_refused(emulator: Emulator, which: str) -> None:
    stale = emulator.world.resource_by_name("chat-prod").stale_key(which)
    with pytest.raises(ClientAuthenticationError) as caught:
        client_for(emulator, "chat-prod", stale).connection_exists("probe")
    assert caught.value.status_code == 401


def test_a_key_regenerated_mid_run_fails_on_the_next_call_and_the_other_key_keeps_working(emulator: Emulator) -> None:
    primary, secondary = emulator.world.resource_by_name("chat-prod").current_keys()
    client = client_for(emulator, "chat-prod", primary)
    assert client.connection_exists("probe") is False
    emulator.regenerate_key("chat-prod", "primary")
    with pytest.raises(ClientAuthenticationError):
        client.connection_exists("probe")
    assert client_for(emulator, "chat-prod", secondary).connection_exists("probe") is False
    fresh = emulator.world.resource_by_name("chat-prod").key("primary")
    assert client_for(emulator, "chat-prod", fresh).connection_exists("probe") is False


def test_a_key_of_another_resource_is_refused(emulator: Emulator) -> None:
    other = emulator.world.resource_by_name("notify-prod").key("primary")
    with pytest.raises(ClientAuthenticationError):
        client_for(emulator, "chat-prod", other).connection_exists("probe")


def test_existing_connections_users_and_groups_answer_true(emulator: Emulator) -> None:
    hub = emulator.world.resource_by_name("chat-prod").hubs["chat"]
    hub.connections["c-1"] = "user-1"
    hub.groups["room"] = {"c-1"}
    client = client_for(emulator, "chat-prod", emulator.world.resource_by_name("chat-prod").key("primary"), hub="Chat")
    assert (client.connection_exists("c-1"), client.user_exists("user-1"), client.group_exists("room")) == (
        True, True, True)
    assert client.connection_exists("c-2") is False


def test_entra_token_from_default_azure_credential_is_accepted(emulator: Emulator) -> None:
    client = entra_client(emulator, "chat-prod")
    assert client.connection_exists("probe") is False
    client.send_to_all({"hello": "world"})
    token = client.get_client_access_token(user_id="user-1", roles=["webpubsub.sendToGroup"], groups=["room"])
    claims = jwt.decode(token["token"], options={"verify_signature": False})
    assert claims["aud"] == "https://chat-prod.webpubsub.azure.com/client/hubs/chat"
    assert (claims["sub"], claims["role"], claims["webpubsub.group"]) == ("user-1", ["webpubsub.sendToGroup"], ["room"])
    assert token["url"].startswith("wss://chat-prod.webpubsub.azure.com/client/hubs/chat?access_token=")
    assert emulator.journal.where(service="identity", query="resource=https://webpubsub.azure.com")
    ops = [e.op for e in emulator.journal.where(host="chat-prod.webpubsub.azure.com")]
    assert ops == ["dataplane.connectionExists", "dataplane.sendToAll", "dataplane.generateToken"]


def test_local_auth_disabled_refuses_keys_but_not_entra(emulator: Emulator) -> None:
    res = emulator.world.resource_by_name("telemetry-eu")
    assert res.disable_local_auth
    with pytest.raises(ClientAuthenticationError):
        client_for(emulator, "telemetry-eu", res.key("primary")).connection_exists("probe")
    assert entra_client(emulator, "telemetry-eu").connection_exists("probe") is False


# -- raw requests: auth edge cases and bodies against the spec --------------------------------------

def signed(url: str, key: str, **claims: Any) -> dict[str, str]:
    payload = {"aud": url, "exp": int(time.time()) + 60, **claims}
    return {"Authorization": "Bearer " + jwt.encode(payload, key, algorithm="HS256")}


def url_of(emulator: Emulator, path: str, resource: str = "chat-prod") -> str:
    return f"https://{emulator.world.resource_by_name(resource).host}{path}"


def check(response: requests.Response, template: str, method: str) -> Any:
    body = response.json() if response.content else None
    validate_response(SPEC, template, method, response.status_code, body)
    return body


def test_health_needs_no_auth_and_so_proves_no_key(emulator: Emulator) -> None:
    url = url_of(emulator, f"/api/health?{API}")
    stale = emulator.world.resource_by_name("chat-prod").stale_key()
    for response in (requests.head(url, timeout=10), requests.get(url, headers=signed(url, stale), timeout=10)):
        assert response.status_code == 200
    check(requests.head(url, timeout=10), "/api/health", "head")


@pytest.mark.parametrize("case", ["no-token", "wrong-audience", "expired", "other-algorithm-key"])
def test_tokens_that_do_not_prove_a_current_key_are_401(emulator: Emulator, case: str) -> None:
    url = url_of(emulator, f"/api/hubs/chat/connections/probe?{API}")
    key = emulator.world.resource_by_name("chat-prod").key("primary")
    headers = {
        "no-token": {},
        "wrong-audience": signed(url_of(emulator, f"/api/hubs/chat/connections/probe?{API}", "notify-prod"), key),
        "expired": signed(url, key, exp=int(time.time()) - 120),
        "other-algorithm-key": signed(url, key + "x"),
    }[case]
    response = requests.head(url, headers=headers, timeout=10)
    assert response.status_code == 401
    check(response, "/api/hubs/{hub}/connections/{connectionId}", "head")


def test_audience_without_the_query_string_is_accepted(emulator: Emulator) -> None:
    url = url_of(emulator, f"/api/hubs/chat/users/u?{API}")
    key = emulator.world.resource_by_name("chat-prod").key("secondary")
    assert requests.head(url, headers=signed(url.split("?")[0], key), timeout=10).status_code == 404


def test_every_body_matches_the_spec(emulator: Emulator) -> None:
    key = emulator.world.resource_by_name("chat-prod").key("primary")
    for kind, template in (("connections", "/api/hubs/{hub}/connections/{connectionId}"),
                           ("users", "/api/hubs/{hub}/users/{userId}"), ("groups", "/api/hubs/{hub}/groups/{group}")):
        url = url_of(emulator, f"/api/hubs/chat/{kind}/x?{API}")
        response = requests.head(url, headers=signed(url, key), timeout=10)
        assert response.status_code == 404
        check(response, template, "head")
    url = url_of(emulator, f"/api/hubs/chat/:generateToken?userId=u1&role=a&role=b&minutesToExpire=5&{API}")
    body = check(requests.post(url, headers=signed(url, key), timeout=10), "/api/hubs/{hub}/:generateToken", "post")
    claims = jwt.decode(body["token"], key, algorithms=["HS256"],
                        audience="https://chat-prod.webpubsub.azure.com/client/hubs/chat")
    assert claims["role"] == ["a", "b"] and claims["exp"] - claims["iat"] == 300
    url = url_of(emulator, f"/api/hubs/chat/:send?{API}")
    response = requests.post(url, headers=signed(url, key), data=b"hi", timeout=10)
    assert response.status_code == 202
    check(response, "/api/hubs/{hub}/:send", "post")


@pytest.mark.parametrize(("path", "stale", "status", "code"), [
    (f"/api/hubs/chat/:send?{API}", True, 401, "Unauthorized"),
    (f"/api/hubs/9chat/:send?{API}", False, 400, "InvalidRequest"),
    ("/api/hubs/chat/:send", False, 400, "InvalidRequest"),
])
def test_error_bodies_match_the_spec(emulator: Emulator, path: str, stale: bool, status: int, code: str) -> None:
    res = emulator.world.resource_by_name("chat-prod")
    url = url_of(emulator, path)
    response = requests.post(url, headers=signed(url, res.stale_key() if stale else res.key("primary")),
                             data=b"hi", timeout=10)
    body = check(response, "/api/hubs/{hub}/:send", "post")
    assert (response.status_code, body["code"], response.headers["x-ms-error-code"]) == (status, code, code)
