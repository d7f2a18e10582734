"""Fidelity of the emulated Key Vault: the real azure-keyvault-secrets SecretClient with
DefaultAzureCredential (managed identity from the emulator) against it, and every emulated body
checked against Microsoft's 7.5 secrets spec."""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from emulator.runtime import Emulator
from tests.specs import SpecMismatch, validate_response

pytestmark = pytest.mark.integration

SPEC = "keyvault/data-plane/Microsoft.KeyVault/stable/7.5/secrets.json"
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
VAULT = "https://kv-fidelity.vault.azure.net"
SCENARIO: dict[str, Any] = {
    "name": "keyvault-fidelity",
    "subscriptions": [{"id": SUB, "resource_groups": [{"name": "rg-secrets", "vaults": [
        {"name": "kv-fidelity", "forbidden_secrets": ["hidden"], "secrets": [
            {"name": "conn", "value": "v2", "history": ["v1"], "content_type": "text/plain",
             "tags": {"owner": "chat-team"}},
            {"name": "off", "value": "disabled-value", "enabled": False},
            {"name": "old", "value": "expired-value", "expires_in_days": -2},
            {"name": "hidden", "value": "hidden-value"},
            {"name": "spare", "value": "spare-value"}]},
        {"name": "kv-locked", "forbidden": True, "secrets": [{"name": "conn", "value": "locked"}]},
        {"name": "kv-readonly", "read_only": True, "secrets": [{"name": "conn", "value": "ro"}]},
    ]}]}],
}


@pytest.fixture
def emu(emulator_factory: Callable[..., Emulator]) -> Emulator:
    return emulator_factory(SCENARIO)


@pytest.fixture
def client(emu: Emulator) -> SecretClient:
    return SecretClient(VAULT, DefaultAzureCredential())


def vault_entries(emu: Emulator, vault: str = "kv-fidelity.vault.azure.net") -> list:
    return emu.journal.where(host=vault)


# -- the SDK ---------------------------------------------------------------------------------------

def test_challenge_flow_answers_401_before_the_token_then_serves_the_latest_version(
        emu: Emulator, client: SecretClient) -> None:
    secret = client.get_secret("conn")
    assert (secret.value, secret.properties.content_type, secret.properties.tags) == (
        "v2", "text/plain", {"owner": "chat-team"})
    assert secret.id == f"{VAULT}/secrets/conn/{secret.properties.version}"
    first, second = vault_entries(emu)[:2]
    assert (first.status, first.caller, second.status) == (401, "", 200)
    assert emu.journal.where(service="identity", query="resource=https://vault.azure.net")
    assert "api-version=2026-04-01" in second.query  # what azure-keyvault-secrets 4.12.0 sends


def test_pinned_api_version_7_5_is_served(emu: Emulator) -> None:
    client = SecretClient(VAULT, DefaultAzureCredential(), api_version="7.5")
    assert client.get_secret("conn").value == "v2"
    assert "api-version=7.5" in vault_entries(emu)[-1].query


def test_get_a_version_and_list_versions(client: SecretClient) -> None:
    versions = list(client.list_properties_of_secret_versions("conn"))
    assert len(versions) == 2 and all(v.name == "conn" for v in versions)
    values = {client.get_secret("conn", v.version).value for v in versions}
    assert values == {"v1", "v2"}


def test_set_secret_adds_a_version_with_content_type_and_tags(emu: Emulator, client: SecretClient) -> None:
    before = client.get_secret("conn")
    written = client.set_secret("conn", "v3", content_type="application/x-connection-string",
                                tags={"webpubsub-resource-id": "/subscriptions/x"})
    latest = client.get_secret("conn")
    assert written.properties.version != before.properties.version
    assert (latest.value, latest.properties.version) == ("v3", written.properties.version)
    assert latest.properties.content_type == "application/x-connection-string"
    assert latest.properties.tags == {"webpubsub-resource-id": "/subscriptions/x"}
    assert len(list(client.list_properties_of_secret_versions("conn"))) == 3
    assert client.get_secret("conn", before.properties.version).value == "v2"
    assert [e.op for e in emu.journal.writes()] == ["keyvault.setSecret"]


def test_list_properties_of_secrets_follows_next_links(emu: Emulator, client: SecretClient) -> None:
    names = [p.name for p in client.list_properties_of_secrets(max_page_size=2)]
    assert names == ["conn", "hidden", "off", "old", "spare"]
    pages = emu.journal.where(op="keyvault.listSecrets", status=200)
    assert len(pages) == 3 and all("maxresults=2" in p.query for p in pages[1:])


def test_disabled_secret_is_listed_but_its_value_is_refused(client: SecretClient) -> None:
    listed = {p.name: p.enabled for p in client.list_properties_of_secrets()}
    assert listed["off"] is False
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("off")
    assert caught.value.status_code == 403
    assert caught.value.error.code == "Forbidden"
    assert "disabled secret" in caught.value.message and "SecretDisabled" in caught.value.message


def test_disabling_through_update_properties_blocks_reads_enabling_restores_them(client: SecretClient) -> None:
    assert client.update_secret_properties("spare", enabled=False, tags={"k": "v"}).enabled is False
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("spare")
    assert caught.value.status_code == 403
    client.update_secret_properties("spare", enabled=True)
    assert client.get_secret("spare").properties.tags == {"k": "v"}


def test_expired_secret_is_still_served_with_its_expiry(client: SecretClient) -> None:
    # Real Key Vault answers 200 with the value after `exp` (Azure/AzureKeyVault#19).
    secret = client.get_secret("old")
    assert secret.value == "expired-value"
    assert secret.properties.expires_on is not None and secret.properties.expires_on.timestamp() < time.time()


def test_missing_secret_and_version_are_404_secret_not_found(client: SecretClient) -> None:
    for name, version in (("nope", None), ("conn", "0" * 32)):
        with pytest.raises(ResourceNotFoundError) as caught:
            client.get_secret(name, version)
        assert caught.value.status_code == 404 and caught.value.error.code == "SecretNotFound"


@pytest.mark.parametrize(("vault", "call", "action"), [
    ("https://kv-locked.vault.azure.net", lambda c: c.get_secret("conn"), "getSecret"),
    ("https://kv-locked.vault.azure.net", lambda c: list(c.list_properties_of_secrets()), "readMetadata"),
    (VAULT, lambda c: c.get_secret("hidden"), "getSecret"),
    ("https://kv-readonly.vault.azure.net", lambda c: c.set_secret("conn", "new"), "setSecret"),
    ("https://kv-readonly.vault.azure.net", lambda c: c.update_secret_properties("conn", enabled=False), "update"),
], ids=["forbidden-vault-get", "forbidden-vault-list", "forbidden-secret", "read-only-set", "read-only-update"])
def test_forbidden_calls_answer_403_naming_the_data_action(emu: Emulator, vault: str, call: Callable,
                                                           action: str) -> None:
    client = SecretClient(vault, DefaultAzureCredential())
    with pytest.raises(HttpResponseError) as caught:
        call(client)
    assert caught.value.status_code == 403 and caught.value.error.code == "Forbidden"
    assert f"Action: 'Microsoft.KeyVault/vaults/secrets/{action}/action'" in caught.value.message
    assert "ForbiddenByRbac" in caught.value.message


def test_read_only_vault_still_reads_and_other_secrets_of_a_vault_stay_readable(emu: Emulator,
                                                                                client: SecretClient) -> None:
    assert SecretClient("https://kv-readonly.vault.azure.net", DefaultAzureCredential()).get_secret("conn").value == "ro"
    assert client.get_secret("spare").value == "spare-value"


def test_denial_added_mid_run_takes_effect_and_allow_all_lifts_it(emu: Emulator, client: SecretClient) -> None:
    emu.deny("keyvault", "kv-fidelity", action="Microsoft.KeyVault/vaults/secrets/getSecret/action")
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("conn")
    assert caught.value.status_code == 403
    assert [p.name for p in client.list_properties_of_secrets()][0] == "conn"  # listing is another action
    emu.allow_all()
    assert client.get_secret("conn").value == "v2"


def test_secret_values_never_reach_the_journal_or_the_logs(emu: Emulator, client: SecretClient,
                                                           caplog: pytest.LogCaptureFixture,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    sentinel = "Endpoint=https://x.webpubsub.azure.com;AccessKey=SENTINEL-7f3a;Version=1.0;"
    client.set_secret("conn", sentinel)
    assert client.get_secret("conn").value == sentinel
    with pytest.raises(HttpResponseError):
        SecretClient("https://kv-readonly.vault.azure.net", DefaultAzureCredential()).set_secret("conn", sentinel)
    out = capsys.readouterr()
    emulator_logs = [r.getMessage() for r in caplog.records if r.name.startswith("emulator")]
    assert "SENTINEL" not in str([e.to_json() for e in emu.journal]) + out.out + out.err + str(emulator_logs)


# -- raw bodies against the spec -------------------------------------------------------------------

def raw(method: str, path: str, body: Any = None, token: bool = True, vault: str = VAULT,
        api_version: str = "7.5") -> requests.Response:
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + DefaultAzureCredential().get_token("https://vault.azure.net/.default").token
    sep = "&" if "?" in path else "?"
    url = path if path.startswith("https://") else f"{vault}{path}{sep}api-version={api_version}"
    return requests.request(method, url, json=body, headers=headers, timeout=10)


def check(response: requests.Response, template: str, method: str) -> Any:
    body = response.json() if response.content else None
    validate_response(SPEC, template, method, response.status_code, body)
    return body


def test_every_success_body_matches_the_spec(emu: Emulator) -> None:
    listed = check(raw("GET", "/secrets?maxresults=2"), "/secrets", "get")
    assert listed["nextLink"].startswith(f"{VAULT}:443/secrets?")
    last = check(raw("GET", listed["nextLink"].replace("maxresults=2", "maxresults=25")), "/secrets", "get")
    assert "nextLink" not in last and [i["id"] for i in last["value"]][-1] == f"{VAULT}/secrets/spare"
    versions = check(raw("GET", "/secrets/conn/versions"), "/secrets/{secret-name}/versions", "get")
    version = versions["value"][0]["id"].rsplit("/", 1)[1]
    latest = check(raw("GET", "/secrets/conn/"), "/secrets/{secret-name}/{secret-version}", "get")
    assert isinstance(latest["attributes"]["created"], int)
    assert latest["attributes"]["recoveryLevel"] == "Recoverable+Purgeable"
    check(raw("GET", f"/secrets/conn/{version}"), "/secrets/{secret-name}/{secret-version}", "get")
    expired = check(raw("GET", "/secrets/old/"), "/secrets/{secret-name}/{secret-version}", "get")
    assert expired["attributes"]["exp"] < time.time()
    exp = int(time.time()) + 3600
    written = check(raw("PUT", "/secrets/conn", {"value": "v9", "contentType": "text/plain", "tags": {"a": "b"},
                                                 "attributes": {"enabled": True, "exp": exp}}),
                    "/secrets/{secret-name}", "put")
    assert written["attributes"]["exp"] == exp and written["tags"] == {"a": "b"}
    updated = check(raw("PATCH", "/secrets/conn/", {"tags": {"c": "d"}}),
                    "/secrets/{secret-name}/{secret-version}", "patch")
    assert "value" not in updated and updated["tags"] == {"c": "d"}


@pytest.mark.parametrize(("method", "path", "token", "status", "code"), [
    ("GET", "/secrets/conn/", False, 401, "Unauthorized"),
    ("GET", "/secrets/off/", True, 403, "Forbidden"),
    ("GET", "/secrets/hidden/", True, 403, "Forbidden"),
    ("GET", "/secrets/nope/", True, 404, "SecretNotFound"),
    ("GET", "/secrets/bad_name/", True, 400, "BadParameter"),
    ("GET", "/secrets?maxresults=26", True, 400, "BadParameter"),
])
def test_every_error_body_matches_the_spec(emu: Emulator, method: str, path: str, token: bool, status: int,
                                           code: str) -> None:
    response = raw(method, path, token=token)
    template = "/secrets" if path.startswith("/secrets?") else "/secrets/{secret-name}/{secret-version}"
    body = check(response, template, method)
    assert (response.status_code, body["error"]["code"]) == (status, code)
    if status == 401:
        assert response.headers["WWW-Authenticate"] == (
            f'Bearer authorization="https://login.microsoftonline.com/{emu.world.tenant_id}", '
            'resource="https://vault.azure.net"')


def test_unknown_api_version_is_400(emu: Emulator) -> None:
    response = raw("GET", "/secrets/conn/", api_version="1999-01-01")
    assert check(response, "/secrets/{secret-name}/{secret-version}", "get")["error"]["code"] == "BadParameter"
    assert response.status_code == 400


def test_the_validator_refuses_a_bundle_that_breaks_the_spec(emu: Emulator) -> None:
    # Guards the checks above: an ISO date where Key Vault sends Unix seconds must fail.
    bundle = raw("GET", "/secrets/conn/").json()
    bundle["attributes"]["created"] = "2025-01-01T00:00:00Z"
    with pytest.raises(SpecMismatch):
        validate_response(SPEC, "/secrets/{secret-name}/{secret-version}", "get", 200, bundle)
