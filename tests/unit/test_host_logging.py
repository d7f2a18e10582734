"""host.json keeps what Application Insights needs, and the sweep summary reaches it as fields.

The Functions host writes a function run and its outcome as a request row (category Host.Results)
and its counts as customMetrics (Host.Aggregator), both at Information; the Python worker's logs
arrive as Function.<name>.User. A default level of Warning with no override drops the first two."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from watchdog.functions.timers import SUMMARY_PREFIX, summary_line
from watchdog.models import Finding, Report, Severity

ROOT = Path(__file__).resolve().parents[2]
LEVELS = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"]


def level_for(levels: dict[str, str], category: str) -> str:
    """The host's rule: the longest configured prefix of the category wins, else default."""
    best = max((c for c in levels if c != "default" and category.startswith(c)), key=len, default="default")
    return levels[best]


def host_levels() -> dict[str, str]:
    return json.loads((ROOT / "host.json").read_text())["logging"]["logLevel"]


def test_requests_metrics_and_app_logs_are_kept():
    levels = host_levels()
    info = LEVELS.index("Information")
    for category in ("Host.Results", "Host.Aggregator", "Function.sweep.User", "Function.check.User"):
        assert LEVELS.index(level_for(levels, category)) <= info, f"{category} is dropped at {level_for(levels, category)}"
    assert LEVELS.index(level_for(levels, "Function.sweep.User")) == info, "app logs at Information, not Debug"


def test_no_category_that_the_host_never_uses():
    # Python loggers (watchdog.*) reach the host as Function.<name>.User: a "watchdog" entry does nothing.
    for category in host_levels():
        assert category == "default" or category.split(".")[0] in ("Host", "Function", "Microsoft", "Worker"), category


def test_requests_and_exceptions_are_never_sampled_away():
    sampling = json.loads((ROOT / "host.json").read_text())["logging"]["applicationInsights"]["samplingSettings"]
    assert {"Request", "Exception"} <= set(sampling["excludedTypes"].split(";"))


def test_the_sweep_summary_is_json_in_the_message_text():
    start = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
    report = Report(started_at=start, finished_at=start + timedelta(seconds=12.5), subscriptions=("sub",),
                    mode={"secret-sync": "plan"}, api_calls={"arm": 7, "metrics": 2})
    report.findings.append(Finding("capacity", "near-cap", Severity.WARNING, "/subscriptions/sub/x", "x", "near"))
    line = summary_line(report)
    assert line.startswith(SUMMARY_PREFIX) and "\n" not in line
    fields = json.loads(line[len(SUMMARY_PREFIX):])
    assert fields["status"] == "warnings" and fields["exit_code"] == 1
    assert fields["findings"] == {"critical": 0, "warning": 1, "info": 0}
    assert fields["duration_seconds"] == 12.5 and fields["api_calls"] == 9 and fields["subscriptions"] == 1
    assert fields["mode"] == {"secret-sync": "plan"}
    assert len(SUMMARY_PREFIX) == 15, "the README's KQL uses substring(message, 15)"

