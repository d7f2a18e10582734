"""How telemetry is configured: off without a connection string; with one, the distro gets an
Entra credential (never the key alone), exports only the watchdog's events logger, and keeps the
HTTP auto-instrumentations (whose spans would carry URLs with `sig=`/`?code=`) off."""
from __future__ import annotations

import azure.monitor.opentelemetry as distro
from azure.core.credentials import TokenCredential

from watchdog import telemetry


def test_configured_with_entra_and_no_http_instrumentation(monkeypatch):
    seen = {}
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: seen.update(kw))
    result = telemetry.configure({telemetry.ENV: "InstrumentationKey=00000000-0000-0000-0000-000000000000"})
    assert result.enabled
    assert isinstance(seen["credential"], TokenCredential)
    assert seen["logger_name"] == telemetry.EVENT_LOGGER
    options = seen["instrumentation_options"]
    assert all(options[name] == {"enabled": False} for name in ("requests", "urllib", "urllib3", "azure_sdk"))


def test_off_without_a_connection_string(monkeypatch):
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: (_ for _ in ()).throw(AssertionError(kw)))
    assert telemetry.configure({}).enabled is False
