"""The emulator's App Service side: ARM's answers for sites and Key Vault references, scenario
sites, and the admin API's time travel, site and consumer actions."""
from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError

from watchdog.azure import AzureClients
from watchdog.collect.sites import arm_call

from .sweep_helpers import settings_for

pytestmark = pytest.mark.integration

SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
SCENARIO = {"name": "web", "subscriptions": [{"id": SUB, "resource_groups": [{
    "name": "rg-apps", "location": "westeurope",
    "vaults": [{"name": "kv-apps", "forbidden_secrets": ["locked"], "secrets": [
        {"name": "conn", "value": "Endpoint=https://nowhere.webpubsub.azure.com;AccessKey=" + "x" * 44 + ";Version=1.0;"},
        {"name": "locked", "value": "x"}]}],
    "sites": [
        {"name": "api", "kind": "app,linux", "settings": {
            "Conn": "@Microsoft.KeyVault(VaultName=kv-apps;SecretName=conn)",
            "Locked": "@Microsoft.KeyVault(VaultName=kv-apps;SecretName=locked)",
            "Gone": "@Microsoft.KeyVault(SecretUri=https://kv-apps.vault.azure.net/secrets/gone/)",
            "NoVault": "@Microsoft.KeyVault(VaultName=kv-nowhere;SecretName=conn)",
            "OldVersion": f"@Microsoft.KeyVault(VaultName=kv-apps;SecretName=conn;SecretVersion={'0' * 32})",
            "Broken": "@Microsoft.KeyVault(SecretUri=ftp://kv-apps/secrets/conn)",
            "Plain": "not a reference"}},
        {"name": "worker", "kind": "functionapp", "settings": {}}]}]}]}
SITE = f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/api"


@pytest.fixture
def env(emulator_factory, monkeypatch):  # noqa: ANN001
    emulator = emulator_factory(SCENARIO)
    clients = AzureClients(settings_for(emulator, monkeypatch))
    yield emulator, clients
    clients.close()


def test_sites_list_and_every_reference_status(env):
    emulator, clients = env
    listed = arm_call(clients, SUB, "GET", f"/subscriptions/{SUB}/providers/Microsoft.Web/sites")["value"]
    assert [(s["name"], s["kind"], s["properties"]["defaultHostName"]) for s in listed] == [
        ("api", "app,linux", "api.azurewebsites.net"), ("worker", "functionapp", "worker.azurewebsites.net")]
    refs = arm_call(clients, SUB, "GET", f"{SITE}/config/configreferences/appsettings")["value"]
    status = {r["name"]: r["properties"]["status"] for r in refs}
    assert status == {"Conn": "Resolved", "Locked": "AccessToKeyVaultDenied", "Gone": "SecretNotFound",
                      "NoVault": "VaultNotFound", "OldVersion": "SecretVersionNotFound", "Broken": "InvalidSyntax"}
    conn = arm_call(clients, SUB, "GET", f"{SITE}/config/configreferences/appsettings/conn")["properties"]
    assert conn["activeVersion"] == emulator.world.vaults["kv-apps"].latest("conn").version
    assert conn["vaultName"] == "kv-apps" and conn["secretName"] == "conn" and conn["source"] == "KeyVault"
    assert "AccessKey" not in json.dumps(refs), "the status API never carries a value"


@pytest.mark.parametrize("path, status, code", [
    (f"{SITE}/config/configreferences/appsettings/Plain", 404, "NotFound"),
    (SITE.replace("/api", "/nope") + "/config/configreferences/appsettings", 404, "ResourceNotFound"),
    (f"{SITE}/config/configreferences/appsettings?api-version=2019-08-01", 400, "NoRegisteredProviderFound"),
])
def test_arm_errors(env, path, status, code):
    _, clients = env
    with pytest.raises(HttpResponseError) as caught:
        arm_call(clients, SUB, "GET", path)
    assert caught.value.status_code == status and caught.value.error.code == code


def test_denied_sites_are_left_out_of_the_list_and_refused_one_by_one(env):
    emulator, clients = env
    emulator.deny("arm", SITE, "Microsoft.Web/sites/Read")
    listed = arm_call(clients, SUB, "GET", f"/subscriptions/{SUB}/providers/Microsoft.Web/sites")["value"]
    assert [s["name"] for s in listed] == ["worker"]
    emulator.deny("arm", SITE, "Microsoft.Web/sites/config/Write")
    with pytest.raises(HttpResponseError) as caught:
        arm_call(clients, SUB, "POST", f"{SITE}/config/configreferences/appsettings/refresh")
    assert caught.value.status_code == 403 and "Microsoft.Web/sites/config/Write" in str(caught.value)


def _admin(emulator, action: str, body: dict) -> dict:  # noqa: ANN001
    request = urllib.request.Request(f"{emulator.env['EMULATOR_ADMIN_URL']}/{action}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback admin API
        return json.loads(answer.read())


def test_admin_time_travel_add_site_and_consume(env):
    emulator, clients = env
    start = emulator.now()
    moved = datetime.fromisoformat(_admin(emulator, "advance-clock", {"minutes": 90})["now"])
    assert moved - start >= timedelta(minutes=90)
    with pytest.raises(ValueError):
        emulator.advance_clock(timedelta(minutes=-1))
    created = _admin(emulator, "add-site", {"name": "late", "settings": {
        "Conn": "@Microsoft.KeyVault(VaultName=kv-apps;SecretName=conn)"}, "consumer": "Conn"})
    assert created["id"].endswith("/Microsoft.Web/sites/late")
    ref = emulator.site("late").references["Conn"]
    assert ref.resolved_at >= moved, "resolved on the emulator's clock"
    # The stored connection string names a host no scenario defines: no call reaches a service.
    answer = _admin(emulator, "consume", {"site": "late"})
    assert answer["status"] is None and answer["detail"]
