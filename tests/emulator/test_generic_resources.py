"""Fidelity: Microsoft.Resources' generic lists (what `az resource list` and Cloud Custodian's
`azure.armresource` discover with) through the real `azure-mgmt-resource` client.

No Microsoft.Resources spec is copied under tests/data/azure, so the bodies are checked by
what the SDK deserializes from them (GenericResourceExpanded, ResourceGroup), not by schema.
"""
from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import DefaultAzureCredential
from azure.mgmt.resource import ResourceManagementClient

from emulator.runtime import Emulator

WPS = "Microsoft.SignalRService/WebPubSub"
CLASSIC_ARM = "https://management.core.windows.net/.default"


def _client(emulator: Emulator, scope: str = "https://management.azure.com/.default") -> ResourceManagementClient:
    return ResourceManagementClient(DefaultAzureCredential(), emulator.world.subscriptions[0],
                                    credential_scopes=[scope])


def test_list_holds_every_resource_of_the_subscription(emulator: Emulator) -> None:
    listed = list(_client(emulator).resources.list())
    by_type: dict[str, set[str]] = {}
    for r in listed:
        by_type.setdefault(r.type, set()).add(r.name)
    world = emulator.world
    assert by_type[WPS] == {r.name for r in world.resources.values()}
    assert by_type["Microsoft.KeyVault/vaults"] == set(world.vaults)
    assert by_type["Microsoft.OperationalInsights/workspaces"] == {w.name for w in world.workspaces.values()}
    assert by_type["microsoft.insights/autoscalesettings"] == {a.name for a in world.autoscale}
    chat = next(r for r in listed if r.name == "chat-prod")
    res = world.resource_by_name("chat-prod")
    assert (chat.id, chat.location, chat.kind, chat.sku.name, chat.sku.capacity, chat.tags) == (
        res.id, res.location, "WebPubSub", "Standard_S1", res.capacity, res.tags)


def test_filter_by_type_and_by_resource_group(emulator: Emulator) -> None:
    client = _client(emulator)
    only_wps = list(client.resources.list(filter=f"resourceType eq '{WPS}'"))
    assert {r.name for r in only_wps} == {r.name for r in emulator.world.resources.values()}
    in_group = list(client.resources.list_by_resource_group("rg-ops"))
    assert {r.name for r in in_group} >= {"telemetry-eu", "presence-eu", "law-ops"}
    assert all(r.id.split("/")[4] == "rg-ops" for r in in_group)
    with pytest.raises(HttpResponseError) as missing:
        list(client.resources.list_by_resource_group("rg-nope"))
    assert missing.value.status_code == 404 and missing.value.error.code == "ResourceGroupNotFound"


def test_resource_groups_and_paging(emulator_factory) -> None:  # noqa: ANN001 - the plugin's fixture
    from emulator.scenarios.generate import generate
    emulator = emulator_factory(generate(120, seed=3, latency=False))  # 120 resources: 3+ pages of 50
    client = _client(emulator)
    listed = list(client.resources.list(filter=f"resourceType eq '{WPS}'"))
    assert len(listed) == 120 and len({r.id for r in listed}) == 120
    groups = {g.name: g for g in client.resource_groups.list()}
    assert set(groups) == {r.resource_group for r in emulator.world.resources.values()} | {"rg-monitoring"}
    some = next(r for r in emulator.world.resources.values())
    assert groups[some.resource_group].location == some.location
    assert groups[some.resource_group].properties.provisioning_state == "Succeeded"


def test_arm_accepts_its_classic_audience_and_refuses_others(emulator: Emulator) -> None:
    assert list(_client(emulator, CLASSIC_ARM).resource_groups.list())
    with pytest.raises(ClientAuthenticationError):
        list(_client(emulator, "https://vault.azure.net/.default").resource_groups.list())
