"""The dead man's switch, the failed-sweep alert and the workbook (infra/core/monitor/) run their KQL
(infra/core/monitor/queries/*.kql, the very files Bicep loads) on the emulator's Log Analytics
through the real LogsQueryClient, over rows shaped like what the app emits: a demo sweep's
telemetry captured with in-memory exporters, converted by the Azure Monitor exporter
(tests/telemetry_rows.py) and planted as a history of sweeps in the workspace."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.identity import DefaultAzureCredential
from azure.monitor.query import LogsQueryClient, LogsQueryStatus

from tests.integration.sweep_helpers import settings_for
from tests.otel_capture import capture
from tests.telemetry_rows import rows, shifted
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.sweep import run_sweep

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MONITOR = ROOT / "infra" / "core" / "monitor"
PERIOD = timedelta(minutes=5)  # main.bicep's sweepPeriodMinutes default, the schedule's period


def rule(name: str) -> dict[str, Any]:
    """A scheduledQueryRules resource of alerts.bicep: its query file, window, operator, threshold."""
    text = (MONITOR / "alerts.bicep").read_text()
    block = text[text.index(f"resource {name} "):]
    block = block[:block.index("\n}\n")]
    window = re.search(r"windowSize: '(.+)'", block)[1]
    minutes = 3 * PERIOD.seconds // 60 if window == "PT${3 * sweepPeriodMinutes}M" else int(
        re.fullmatch(r"PT(\d+)M", window)[1])
    return {"query": (MONITOR / "queries" / re.search(r"loadTextContent\('queries/(.+?)'\)", block)[1]).read_text(),
            "window": timedelta(minutes=minutes), "operator": re.search(r"operator: '(\w+)'", block)[1],
            "threshold": int(re.search(r"threshold: (\d+)", block)[1]),
            "aggregation": re.search(r"timeAggregation: '(\w+)'", block)[1]}


def query(emulator, text: str, window: timedelta) -> list[dict[str, Any]]:  # noqa: ANN001
    ws = next(iter(emulator.world.workspaces.values()))
    result = LogsQueryClient(DefaultAzureCredential()).query_workspace(ws.customer_id, text, timespan=window)
    assert result.status == LogsQueryStatus.SUCCESS
    table = result.tables[0]
    return [dict(zip(table.columns, row)) for row in table.rows]


def fires(emulator, name: str) -> bool:  # noqa: ANN001
    r = rule(name)
    assert r["aggregation"] == "Count"  # a log alert's Count: the rows the query returns in the window
    count = len(query(emulator, r["query"], r["window"]))
    return {"LessThan": count < r["threshold"], "GreaterThan": count > r["threshold"]}[r["operator"]]


def plant(emulator, tables: dict[str, list[dict[str, Any]]]) -> None:  # noqa: ANN001
    ws = next(iter(emulator.world.workspaces.values()))
    with emulator.world.lock:
        for table, planted in tables.items():
            ws.tables.setdefault(table, []).extend(planted)


@pytest.fixture
def sweeps(emulator, monkeypatch, tmp_path):  # noqa: ANN001, ANN201
    """(telemetry rows of one demo sweep, of one failed sweep, the demo sweep's report), at now."""
    settings = settings_for(emulator, monkeypatch)
    ok, failed = capture(), capture()
    ledger = SqliteLedger(str(tmp_path / "ledger.sqlite3"))
    try:  # as the timer sweeps: finding states kept, so their changes are events too
        with ok.telemetry.sweep(trigger="timer"):  # as watchdog/functions/timers.py opens it
            report = run_sweep(settings, mode={"secret-sync": "plan", "scale": "plan", "scale-in": "off"},
                               ledger=ledger, notify=True, telemetry=ok.telemetry)
    finally:
        ledger.close()
    with pytest.raises(ValueError), failed.telemetry.sweep(trigger="timer"):
        run_sweep(settings, notify=True, telemetry=failed.telemetry)  # notifications without a ledger
    now = emulator.now()
    return rows(ok, now), rows(failed, now), report


def history(tables: dict[str, list[dict[str, Any]]], last: timedelta, count: int) -> dict[str, list[dict[str, Any]]]:
    """`count` sweeps one period apart, the latest `last` ago."""
    out: dict[str, list[dict[str, Any]]] = {}
    for i in range(count):
        for table, planted in shifted(tables, -(last + i * PERIOD)).items():
            out.setdefault(table, []).extend(planted)
    return out


def test_a_healthy_history_fires_nothing(emulator, sweeps):
    ok, _, _ = sweeps
    plant(emulator, history(ok, timedelta(minutes=1), 24))
    assert not fires(emulator, "sweepsMissing") and not fires(emulator, "sweepsFailed")


def test_two_missed_periods_do_not_fire_three_do(emulator, sweeps):
    ok, _, _ = sweeps
    plant(emulator, history(ok, 2 * PERIOD + timedelta(minutes=2), 24))  # the last sweep 12 min ago
    assert not fires(emulator, "sweepsMissing")
    emulator.advance_clock(PERIOD)  # now 17 min ago: 3 periods without a successful sweep
    assert fires(emulator, "sweepsMissing")
    assert not fires(emulator, "sweepsFailed")


def test_nothing_at_all_fires_the_dead_mans_switch(emulator):
    assert fires(emulator, "sweepsMissing")


def test_on_demand_sweeps_do_not_keep_the_dead_mans_switch_quiet(emulator, sweeps):
    ok, _, _ = sweeps
    on_demand = {t: [{**r, "Properties": {**r["Properties"], "watchdog.trigger": "on-demand"}} if t == "AppRequests"
                     else r for r in rs] for t, rs in ok.items()}
    plant(emulator, history(on_demand, timedelta(minutes=1), 24))
    assert fires(emulator, "sweepsMissing")


def test_failing_sweeps_fire_both(emulator, sweeps):
    ok, failed, _ = sweeps
    plant(emulator, history(ok, timedelta(hours=1), 12))
    plant(emulator, history(failed, timedelta(minutes=1), 4))  # the last 20 minutes: every sweep failed
    assert fires(emulator, "sweepsFailed")
    assert fires(emulator, "sweepsMissing")  # failures are not successful sweeps


def test_the_workbook_queries_show_the_reports_numbers(emulator, sweeps):
    ok, _, report = sweeps
    # Three sweeps in the same hour bin of the emulator's clock.
    swept_at = emulator.now()
    if swept_at - swept_at.replace(minute=0, second=0, microsecond=0) < timedelta(minutes=11):
        emulator.advance_clock(timedelta(minutes=11))
    plant(emulator, history(shifted(ok, emulator.now() - swept_at), timedelta(minutes=1), 3))
    workbook = (MONITOR / "workbook.bicep").read_text()
    files = re.findall(r"loadTextContent\('queries/(.+?)'\)", workbook)
    assert files == ["findings-by-rule.kql", "sweep-duration.kql", "api-calls.kql"]
    found = {f: query(emulator, (MONITOR / "queries" / f).read_text(), timedelta(hours=2)) for f in files}

    latest = max(r["TimeGenerated"] for r in found["findings-by-rule.kql"])
    assert {(r["Rule"], r["Severity"]): r["Findings"] for r in found["findings-by-rule.kql"]
            if r["TimeGenerated"] == latest} == dict(Counter((f.rule, str(f.severity)) for f in report.findings))
    (duration,) = [r for r in found["sweep-duration.kql"] if r["TimeGenerated"] == latest]
    assert duration["Sweeps"] == 3 and duration["Slowest"] == pytest.approx(report.timings["total"])
    calls = {(r["Service"], r["Measure"]): r["Count"] for r in found["api-calls.kql"] if r["TimeGenerated"] == latest}
    assert calls == {**{(s, "calls"): 3 * n for s, n in report.api_calls.items()},
                     **{(s, "throttled"): 3 * n for s, n in report.throttled.items()}}


def readme_queries() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- section: telemetry -->", 1)[1].split("<!-- /section -->", 1)[0]
    return re.findall(r"```kusto\n(.*?)```", section, re.S)


def test_the_readmes_telemetry_queries_find_what_a_sweep_exported(emulator, sweeps):
    ok, _, report = sweeps
    plant(emulator, history(ok, timedelta(minutes=1), 2))
    queries = readme_queries()
    assert len(queries) == 5  # sweeps, stages, finding changes, actions, metrics
    for text in queries:
        found = query(emulator, text, timedelta(hours=1))
        assert found, text
        # Every property the query reads is one the telemetry fills (a misspelt one reads empty).
        for column in {"Trigger", "Resources", "Findings", "Status", "Previous", "Rule", "Check", "Severity", "Resource",
                       "Fingerprint", "Kind", "Service"} & set(found[0]):
            assert any(r[column] not in ("", None) for r in found), (column, text)
    changes = query(emulator, queries[2], timedelta(hours=1))
    assert {r["Fingerprint"] for r in changes} == {f.fingerprint for f in report.findings}
