"""Secret bindings and reads: both binding ways, disabled secrets, non-connection-strings, bad tags."""
from __future__ import annotations

import pytest

from .sweep_helpers import observe_by_name, settings_for

pytestmark = pytest.mark.integration
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
RID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/app-one"


def test_bindings_disabled_and_malformed_secrets(emulator_factory, monkeypatch):
    scenario = {"name": "secrets", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "eastus",
        "vaults": [{"name": "kv-secrets-one", "secrets": [
            {"name": "by-tag", "value": {"connection_string": "app-one", "key": "primary"},
             "tags": {"webpubsub-resource-id": RID}},
            {"name": "by-resource", "value": "not a connection string", "content_type": "text/plain"},
            {"name": "switched-off", "value": {"connection_string": "app-one"}, "enabled": False,
             "tags": {"webpubsub-resource-id": RID.upper()}},
            {"name": "unrelated", "value": "x"}]}],
        "webpubsub": [{"name": "app-one", "sku": "Standard_S1", "tags": {
            "watchdog-secrets": "https://kv-secrets-one.vault.azure.net/secrets/by-resource, ftp://nope"}}]}]}]}
    emulator = emulator_factory(scenario)
    settings = settings_for(emulator, monkeypatch)
    obs, _ = observe_by_name(settings)

    app = obs["app-one"]
    secrets = {s.name: s for s in app.secrets}
    assert set(secrets) == {"by-tag", "by-resource", "switched-off"}
    assert secrets["by-tag"].proof.outcome == "accepted" and secrets["by-tag"].key_fingerprint == app.keys.primary
    assert secrets["by-resource"].parse_error and secrets["by-resource"].endpoint_host is None
    assert secrets["by-resource"].content_type == "text/plain" and secrets["by-resource"].proof is None
    assert not secrets["switched-off"].enabled and not secrets["switched-off"].has_value
    (bad_tag,) = app.errors
    assert bad_tag.source == "secrets" and "ftp://nope" in bad_tag.message
    assert not emulator.journal.where(op="keyvault.getSecret", path=lambda p: p.endswith("/unrelated"))
