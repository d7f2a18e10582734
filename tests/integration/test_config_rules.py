"""The configuration rules (network/*, posture/resource-stopped and the tag checks, hubs/*) through
the real SDK against the emulator: what the resource body says reaches the model, hub names survive
the ledger's cache in a fresh process, and each rule fires on what the emulator serves."""
from __future__ import annotations

import pytest

from watchdog.ledger.sqlite import SqliteLedger
from watchdog.models_resource import NetworkAcls, PrivateEndpoint
from watchdog.sweep import Caches, run_sweep

from .sweep_helpers import observe_by_name, settings_for

pytestmark = pytest.mark.integration
SUB = "00000000-0000-0000-0000-0000000000a1"
TAGS = {"environment": "prod", "team": "t", "cost-center": "c"}
ALERTS = [{"name": "quota", "metric": "ConnectionQuotaUtilization", "threshold": 80},
          {"name": "load", "metric": "ServerLoad", "threshold": 70}]


def scenario(**resource) -> dict:
    base = {"name": "cfg", "sku": "Standard_S1", "disable_local_auth": True, "tags": TAGS,
            "diagnostics": [{"workspace": "law"}],
            "metrics": {"TotalConnectionCount": 12, "ConnectionQuotaUtilization": 1, "ServerLoad": 2}}
    return {"name": "config-rules", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "westeurope", "workspaces": [{"name": "law"}], "metric_alerts": ALERTS,
        "webpubsub": [{**base, **resource}]}]}],
        "hosts": {"h.contoso.com": {"kind": "handler", "behaviour": "ok"}}}


HUB = [{"name": "chat", "event_handlers": [{"url_template": "https://h.contoso.com/api/{event}",
                                             "system_events": ["connect"]}]}]


def findings(emulator_factory, monkeypatch, **resource) -> set[tuple[str, str]]:
    emu = emulator_factory(scenario(**resource))
    report = run_sweep(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB))
    assert report.errors == []
    return {(f.rule, f.check) for f in report.findings if f.rule in ("network", "posture", "hubs")}


@pytest.mark.parametrize("resource, expected", [
    ({"hubs": HUB}, set()),
    ({"hubs": HUB, "public_network_access": "Disabled"}, {("network", "unreachable")}),
    ({"hubs": HUB, "public_network_access": "Disabled", "private_endpoints": {"pe1": "Approved"}}, set()),
    ({"hubs": HUB, "private_endpoints": {"pe1": "Rejected"}}, {("network", "private-endpoint-pending")}),
    ({"hubs": HUB, "network_acls": {"default_action": "Allow", "deny": ["ClientConnection"]}},
     {("network", "acl-denies")}),
    ({"hubs": HUB, "resource_stopped": True}, {("posture", "resource-stopped")}),
    ({"hubs": HUB, "tags": {"environment": "prod"}}, {("posture", "missing-tags")}),
    ({"hubs": HUB, "sku": "Free_F1"}, {("posture", "free-in-production")}),
    ({"hubs": HUB, "diagnostics": [{"workspace": "law", "categories": ["MessagingLogs"]}]},
     {("posture", "diagnostic-categories")}),
    ({}, {("hubs", "none")}),
    ({"hubs": [{"name": "feed"}], "metrics": {"TotalConnectionCount": 5, "ConnectionCloseCount/EventHandlerNotFound": 2}},
     {("hubs", "no-handler")}),
    ({"hubs": [{"name": "chat", "event_handlers": [{"url_template": "https://h.contoso.com/x",
                                                      "system_events": ["connected"]}]}],
      "metrics": {"TotalConnectionCount": 5, "ConnectionCloseCount/EventHandlerNotFound": 2}},
     {("hubs", "system-events")}),
])
def test_each_configuration_rule_fires_on_what_the_emulator_serves(emulator_factory, monkeypatch, resource, expected):
    assert findings(emulator_factory, monkeypatch, **resource) == expected


def test_the_body_reaches_the_model_through_the_sdk(emulator_factory, monkeypatch):
    emu = emulator_factory(scenario(public_network_access="Disabled", resource_stopped=True,
                                    private_endpoints={"pe-a": "Approved", "pe-b": "Pending"},
                                    network_acls={"default_action": "Deny", "allow": ["RESTAPI"]}))
    by_name, errors = observe_by_name(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB))
    res = by_name["cfg"].resource
    assert errors == [] and res.resource_stopped is True and res.public_network_access == "Disabled"
    assert res.private_endpoints == (PrivateEndpoint("pe-a", "Approved"), PrivateEndpoint("pe-b", "Pending"))
    assert res.network_acls == NetworkAcls("Deny", ("RESTAPI",), ())
    assert by_name["cfg"].hubs == ()  # read, and none: not None (unknown)


def test_hub_names_survive_the_ledger_cache_in_a_fresh_process(emulator_factory, monkeypatch, tmp_path):
    emu = emulator_factory(scenario(hubs=[{"name": "feed"}, *HUB]))
    settings = settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB)
    for _ in range(2):  # the second sweep is served from the ledger: no hubs read
        with SqliteLedger(tmp_path / "l.sqlite3") as ledger:
            report = run_sweep(settings, ledger=ledger, caches=Caches())
        assert [f.subject.rsplit("/", 1)[-1] for f in report.findings if f.rule == "hubs"] == ["feed"]
    assert sum(1 for e in emu.journal if e.op == "arm.listHubs") == 1
