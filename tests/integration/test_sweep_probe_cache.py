"""Event-handler probes reused from the ledger until something says they may differ (issue 17):
through the real SDKs against the emulator, each sweep a fresh process sharing only the SQLite file."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from watchdog.collect import probe_cache, spread
from watchdog.models import EventHandler
from watchdog.redact import redact_url

from .sweep_helpers import settings_for
from .test_sweep_cache import fresh_process_sweep

pytestmark = pytest.mark.integration
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
OK, BROKEN = "ok.example.com", "broken.example.com"


def _scenario() -> dict:
    def resource(i: int, host: str) -> dict:
        return {"name": f"wps-{i}", "sku": "Standard_S1", "hubs": [{"name": "hub", "event_handlers": [
            {"url_template": f"https://{host}/api/{i}/{{hub}}/{{event}}"}]}]}
    return {"name": "probe-cache", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "eastus",
        "webpubsub": [*(resource(i, OK) for i in range(6)), resource(6, BROKEN)]}]}],
        "hosts": {OK: {"behaviour": "ok"}, BROKEN: {"behaviour": "status", "status": 500}}}


def probed(emulator, host: str, after: int) -> list[str]:  # noqa: ANN001
    """Resource names (from the handler path) probed on `host` since journal position `after`."""
    return sorted(e.path.split("/")[2] for e in list(emulator.journal)[after:]
                  if e.service == "customer" and e.method == "OPTIONS" and e.host == host)


def quiet_start(emulator, span: timedelta = timedelta(minutes=3)) -> datetime:  # noqa: ANN001
    """A start time after which no passing handler's interval slot (collect/spread.py) comes within
    `span`: a test of the other reasons to probe is not disturbed by a slot falling due."""
    keys = [probe_cache.key(emulator.world.resource_by_name(f"wps-{i}").id, EventHandler(
        hub="hub", url_redacted=redact_url(f"https://{OK}/api/{i}/{{hub}}/{{event}}"), host=OK,
        user_event_pattern="*")) for i in range(6)]  # the emulator's default pattern
    now = datetime.now(timezone.utc)
    while any(spread.due(k, now, now + span, timedelta(minutes=30)) for k in keys):
        now += timedelta(minutes=1)
    return now


def handler_findings(report) -> dict[str, str]:  # noqa: ANN001
    return {f.resource_id.rsplit("/", 1)[1]: f.check for f in report.findings if f.rule == "upstream"}


@pytest.fixture
def world(emulator_factory, monkeypatch, tmp_path):  # noqa: ANN001, ANN201
    emulator = emulator_factory(_scenario())
    return emulator, settings_for(emulator, monkeypatch), tmp_path / "ledger.sqlite3"


def test_passing_handlers_are_not_probed_again_and_failing_ones_are_every_sweep(world):
    emulator, settings, path = world
    now = quiet_start(emulator)
    first = fresh_process_sweep(settings, path, now=now)
    assert probed(emulator, OK, 0) == [str(i) for i in range(6)] and probed(emulator, BROKEN, 0) == ["6"]
    mark = len(emulator.journal)

    second = fresh_process_sweep(settings, path, now=now + timedelta(seconds=30))
    assert probed(emulator, OK, mark) == [] and probed(emulator, BROKEN, mark) == ["6"]
    # The reused probes stand in: the same findings, the broken handler's among them.
    assert handler_findings(second) == handler_findings(first) and "wps-6" in handler_findings(second)
    assert {o.resource.name: len(o.probes) for o in second.observations} == {f"wps-{i}": 1 for i in range(7)}


def test_a_handler_that_recovers_is_seen_at_once_and_then_reused(world):
    emulator, settings, path = world
    now = quiet_start(emulator)
    fresh_process_sweep(settings, path, now=now)
    emulator.world.hosts[BROKEN].behaviour = "ok"
    fixed = fresh_process_sweep(settings, path, now=now + timedelta(seconds=30))
    assert "wps-6" not in handler_findings(fixed)
    mark = len(emulator.journal)
    fresh_process_sweep(settings, path, now=now + timedelta(seconds=60))
    assert probed(emulator, BROKEN, mark) == []


def test_a_changed_resource_or_a_host_resolving_elsewhere_is_probed_again(world):
    emulator, settings, path = world
    now = quiet_start(emulator)
    fresh_process_sweep(settings, path, now=now)
    # Azure's time moves past that sweep's (quiet_start may have put it ahead)
    emulator.advance_clock(max(timedelta(0), now + timedelta(seconds=1) - datetime.now(timezone.utc)))
    emulator.regenerate_key("wps-2", "primary")  # a write in the activity log: its settings are re-read
    mark = len(emulator.journal)
    fresh_process_sweep(settings, path, now=now + timedelta(minutes=2))
    assert probed(emulator, OK, mark) == ["2"]

    emulator.world.hosts[OK].addresses = ["198.51.100.77"]
    mark = len(emulator.journal)
    fresh_process_sweep(settings, path, now=now + timedelta(minutes=3))
    assert probed(emulator, OK, mark) == [str(i) for i in range(6)]


def test_every_handler_is_probed_once_per_interval_spread_over_the_sweeps(world):
    emulator, settings, path = world
    now = datetime.now(timezone.utc)
    fresh_process_sweep(settings, path, now=now)
    per_sweep = []
    for minutes in range(5, 35, 5):  # six timer sweeps over WATCHDOG_PROBE_INTERVAL_MINUTES (30)
        mark = len(emulator.journal)
        fresh_process_sweep(settings, path, now=now + timedelta(minutes=minutes))
        per_sweep.append(probed(emulator, OK, mark))
    assert sorted(r for sweep in per_sweep for r in sweep) == [str(i) for i in range(6)]  # each exactly once
