"""The event-handler probe against customer hosts that fail in each way, and the blocked targets."""
from __future__ import annotations

import pytest

from .sweep_helpers import observe_by_name, settings_for

pytestmark = pytest.mark.integration
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
HANDLERS = {
    "ok": "https://ok.example.com/api/{event}?code=s3cret",
    "dns": "https://gone.example.com/api/{event}",
    "tls": "https://badcert.example.com/api/{event}",
    "timeout": "https://slow.example.com/api/{event}",
    "refused": "https://closed.example.com/api/{event}",
    "redirect": "https://moved.example.com/api/{event}",
    "metadata": "http://169.254.169.254/metadata/{event}",
    "loopback": "http://127.0.0.1:8080/{hub}/{event}",
    "localhost": "https://localhost/api/{event}",
    "ipv6-metadata": "http://[fd00:ec2::254]/{event}",
}


def test_each_failure_has_its_cause_and_blocked_targets_are_never_contacted(emulator_factory, monkeypatch):
    scenario = {
        "name": "handlers", "subscriptions": [{"id": SUB, "resource_groups": [{
            "name": "rg", "location": "eastus", "webpubsub": [{
                "name": "probe-me", "sku": "Standard_S1",
                "hubs": [{"name": hub, "event_handlers": [{"url_template": url}]} for hub, url in HANDLERS.items()]}]}]}],
        "hosts": {"ok.example.com": {"behaviour": "ok"}, "gone.example.com": {"behaviour": "dns"},
                  "badcert.example.com": {"behaviour": "tls"}, "slow.example.com": {"behaviour": "timeout"},
                  "closed.example.com": {"behaviour": "refused"},
                  "moved.example.com": {"behaviour": "status", "status": 302}},
    }
    emulator = emulator_factory(scenario)
    settings = settings_for(emulator, monkeypatch, WATCHDOG_PROBE_TIMEOUT_SECONDS="1")
    obs, _ = observe_by_name(settings)

    causes = {p.handler.hub: p.cause for p in obs["probe-me"].probes}
    assert causes == {"ok": None, "dns": "dns", "tls": "tls", "timeout": "timeout", "refused": "connection",
                      "redirect": "redirect", "metadata": "blocked", "loopback": "blocked",
                      "localhost": "blocked", "ipv6-metadata": "blocked"}
    assert [d.query for d in emulator.deliveries("ok.example.com")] == ["code=s3cret"]
    assert [d.method for d in emulator.deliveries("moved.example.com")] == ["OPTIONS"]
    tunnels = {e.host for e in emulator.journal.where(method="CONNECT")}
    assert not tunnels & {"169.254.169.254", "127.0.0.1", "localhost", "fd00:ec2::254"}
    for p in obs["probe-me"].probes:
        assert "s3cret" not in p.detail and "?" not in p.handler.url_redacted
