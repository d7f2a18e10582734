"""The watchdog's telemetry over a demo sweep through the emulator, captured with the OpenTelemetry
SDK's in-memory exporters: a span per sweep and per stage, an event per finding state change and
per action, and metrics equal to the report's numbers."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.sweep_helpers import settings_for
from tests.otel_capture import capture
from watchdog import telemetry
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.sweep import run_sweep

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
STAGES = {"discover", "collect", "diagnose", "remediate", "notify"}


def _sweep(emulator, monkeypatch, tmp_path: Path, mode=None):  # noqa: ANN001
    settings = settings_for(emulator, monkeypatch, WATCHDOG_NOTIFY_TARGETS="ops", WATCHDOG_NOTIFY_OPS_KIND="webhook",
                            WATCHDOG_NOTIFY_OPS_URL="https://hooks.contoso.com/hook")
    captured = capture()
    ledger = SqliteLedger(str(tmp_path / "ledger.sqlite3"))
    try:
        report = run_sweep(settings, mode=mode, ledger=ledger, notify=True, telemetry=captured.telemetry)
        states = ledger.finding_states()
    finally:
        ledger.close()
    return report, captured, states


def test_a_sweep_exports_its_spans_events_and_the_reports_numbers(emulator, monkeypatch, tmp_path):
    report, captured, states = _sweep(emulator, monkeypatch, tmp_path,
                                      mode={"secret-sync": "on", "scale": "plan", "scale-in": "off"})
    spans = {s.name: s for s in captured.spans()}
    sweep = spans[telemetry.SWEEP_SPAN]
    assert sweep.kind.name == "CONSUMER" and sweep.status.is_ok and sweep.parent is None
    assert sweep.attributes["watchdog.trigger"] == "on-demand"
    demo = emulator.world.resources
    assert sweep.attributes["watchdog.resources"] == len(report.resources) == len(demo) > 0
    # One span per stage, each a child of the sweep's, as long as the report's timing says.
    assert {n.removeprefix(telemetry.STAGE_SPAN) for n in spans if n.startswith(telemetry.STAGE_SPAN)} == STAGES
    for name in STAGES:
        span = spans[telemetry.STAGE_SPAN + name]
        assert span.parent.span_id == sweep.context.span_id
        # The span lies inside the stage's timing (which also counts opening and closing it).
        assert report.timings[name] - 0.05 <= (span.end_time - span.start_time) / 1e9 <= report.timings[name] + 0.001

    events = captured.events()
    changed = [e for e in events if e["name"] == telemetry.FINDING_EVENT]
    # First sweep on an empty ledger: every recorded state is a change from "new".
    assert sorted(e["fingerprint"] for e in changed) == sorted(states)
    assert all(e["previous"] == "new" and e["status"] == states[e["fingerprint"]].status for e in changed)
    by_fp = {f.fingerprint: f for f in report.findings}
    for e in changed:
        if e["fingerprint"] in by_fp:
            f = by_fp[e["fingerprint"]]
            assert (e["rule"], e["check"], e["severity"], e["resource_id"]) == (f.rule, f.check, str(f.severity),
                                                                              f.resource_id)
    actions = [e for e in events if e["name"] == telemetry.ACTION_EVENT]
    assert len(actions) == len(report.outcomes) > 0
    assert Counter((a["kind"], a["status"]) for a in actions) == Counter(
        (o.action.kind, str(o.status)) for o in report.outcomes)
    assert any(a["kind"] == "secret-sync" and a["status"] == "done" and a["verified"] == "True" for a in actions)

    metrics = captured.metrics()
    assert metrics["watchdog.sweep.duration"] == [({}, report.timings["total"])]
    assert metrics["watchdog.sweep.resources"] == [({}, len(report.resources))]
    assert {(a["severity"], a["rule"]): v for a, v in metrics["watchdog.sweep.findings"]} == dict(
        Counter((str(f.severity), f.rule) for f in report.findings))
    assert {a["service"]: v for a, v in metrics["watchdog.sweep.api_calls"]} == report.api_calls
    assert sum(report.api_calls.values()) > 0
    assert {a["service"]: v for a, v in metrics.get("watchdog.sweep.throttled", [])} == report.throttled
    assert metrics["watchdog.sweep.blind_spots"] == [({}, sum(f.rule == "blind-spot" for f in report.findings))]


def test_a_second_sweep_reports_only_what_changed(emulator, monkeypatch, tmp_path):
    _sweep(emulator, monkeypatch, tmp_path)
    report, captured, _ = _sweep(emulator, monkeypatch, tmp_path)
    assert report.findings  # the demo still has its problems: nothing changed state
    assert [e for e in captured.events() if e["name"] == telemetry.FINDING_EVENT] == []


def test_a_failing_sweep_is_a_failed_sweep_span(emulator, monkeypatch, tmp_path):
    settings = settings_for(emulator, monkeypatch)
    captured = capture()
    with pytest.raises(ValueError, match="ledger"):
        run_sweep(settings, notify=True, telemetry=captured.telemetry)  # notify without a ledger
    (sweep,) = [s for s in captured.spans() if s.name == telemetry.SWEEP_SPAN]
    assert sweep.status.status_code.name == "ERROR"
    assert {s.name for s in captured.spans() if s.name.startswith(telemetry.STAGE_SPAN)} >= {
        telemetry.STAGE_SPAN + "notify"}


def test_off_without_a_connection_string_and_nothing_imported():
    # A fresh process (the CLI's path): no connection string, no OpenTelemetry or distro loaded.
    code = ("import sys; from watchdog import telemetry, sweep, cli; t = telemetry.current({}); "
            "print(t.enabled, sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'azure.monitor.opentelemetry'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != telemetry.ENV})
    assert out.stdout.strip() == "False []"
    assert telemetry.configure({telemetry.ENV: "  "}).enabled is False


def test_a_sweep_says_what_triggered_it(emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    captured = capture()
    run_sweep(settings, telemetry=captured.telemetry)
    with captured.telemetry.sweep(trigger="timer"):
        run_sweep(settings, telemetry=captured.telemetry)  # inside the timer's span: no second one
    sweeps = [s for s in captured.spans() if s.name == telemetry.SWEEP_SPAN]
    assert [s.attributes["watchdog.trigger"] for s in sweeps] == ["on-demand", "timer"]
