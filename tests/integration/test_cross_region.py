"""upstream/cross-region through the real clients against the emulator: one sites list per
subscription that has handlers, kept by the process, matched by host name."""
from __future__ import annotations

import pytest

from watchdog.sweep import Caches, run_sweep

from .sweep_helpers import settings_for

pytestmark = pytest.mark.integration
SUB = "00000000-0000-0000-0000-0000000000a3"


def scenario(handler_host: str, with_handler: bool = True) -> dict:
    hubs = [{"name": "chat", "event_handlers": [{"url_template": f"https://{handler_host}/api/{{event}}"}]}]
    return {"name": "sites", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "westeurope", "workspaces": [{"name": "law"}],
        "sites": [{"name": "fn-eu", "location": "West Europe"}, {"name": "fn-us", "location": "eastus",
                                                                    "custom_hosts": ["events.contoso.com"]}],
        "webpubsub": [{"name": "wps", "sku": "Standard_S1", "disable_local_auth": True,
                       **({"hubs": hubs} if with_handler else {}),
                       "metrics": {"TotalConnectionCount": 0, "ServerLoad": 1}}]}]}],
        "hosts": {handler_host: {"kind": "handler", "behaviour": "ok"}}}


@pytest.mark.parametrize("host, site", [
    ("fn-us.azurewebsites.net", "fn-us"),
    ("events.contoso.com", "fn-us"),  # a custom domain of the app
    ("fn-eu.azurewebsites.net", None),  # same region ("West Europe" is westeurope)
    ("elsewhere.example.com", None),
])
def test_cross_region_by_host_name(emulator_factory, monkeypatch, host, site):
    emu = emulator_factory(scenario(host))
    report = run_sweep(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB))
    found = [f.evidence["site"] for f in report.findings if f.check == "cross-region"]
    assert report.errors == [] and found == ([site] if site else [])


def test_one_list_per_subscription_kept_by_the_process_and_none_without_handlers(emulator_factory, monkeypatch):
    emu = emulator_factory(scenario("fn-us.azurewebsites.net"))
    settings, caches = settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB), Caches()
    run_sweep(settings, caches=caches)
    run_sweep(settings, caches=caches)
    assert sum(1 for e in emu.journal if e.op == "web.list") == 1
    emu = emulator_factory(scenario("x.example.com", with_handler=False))
    run_sweep(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB), caches=Caches())
    assert sum(1 for e in emu.journal if e.op == "web.list") == 0


def test_a_forbidden_sites_list_is_a_blind_spot_and_says_nothing_of_regions(emulator_factory, monkeypatch):
    data = scenario("fn-us.azurewebsites.net")
    data["denials"] = [{"service": "arm", "scope": f"/subscriptions/{SUB}", "action": "Microsoft.Web/sites/Read"}]
    emu = emulator_factory(data)
    report = run_sweep(settings_for(emu, monkeypatch, AZURE_SUBSCRIPTION_ID=SUB))
    assert not [f for f in report.findings if f.check == "cross-region"]
    [blind] = [f for f in report.findings if f.check == "sites-forbidden"]
    assert "Microsoft.Web/sites/Read" in blind.guidance
