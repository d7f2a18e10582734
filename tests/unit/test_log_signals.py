"""The log-signals query and its parser: the query runs on the emulator's KQL engine over planted
rows (tests/log_rows.py) and the parser turns the aggregated result into LogSignals."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from emulator.kql import Table, cell, run
from emulator.services.logs import COLUMNS
from tests.log_rows import NAMES, REST_IP, STORM_IPS, TOKEN, tables
from watchdog.collect import log_signals
from watchdog.models_logs import LifetimeCluster, LogSignals, TokenAge

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
TIMEOUTS = (60, 90, 100, 120, 230, 240)
IDS = {n: f"/subscriptions/s/resourcegroups/rg/providers/microsoft.signalrservice/webpubsub/{n}" for n in NAMES}


def workspace() -> dict[str, Table]:
    out = {}
    for name, columns in COLUMNS.items():
        rows = []
        for raw in tables(IDS).get(name, []):
            row = {**raw, "TimeGenerated": NOW - timedelta(minutes=raw["minutes_ago"]), "Type": name}
            rows.append({c: row.get(c) for c, _ in columns})
        out[name] = Table(list(columns), rows)
    return out


def queried(window: int = 30, timeouts=TIMEOUTS) -> tuple[list[str], list[list]]:
    result = run(log_signals.build_query(window, timeouts), workspace(), NOW)
    columns = [c for c, _ in result.columns]
    return columns, [[cell(r.get(c)) for c in columns] for r in result.rows]  # as they travel: JSON cells


def signals() -> dict[str, LogSignals]:
    columns, rows = queried()
    return log_signals.parse(columns, rows, IDS.values(), 30, TIMEOUTS)


def test_the_query_aggregates_per_resource():
    columns, rows = queried()
    assert "Kind" in columns and "Url" not in columns and "Message" not in columns  # figures, never raw rows
    kinds = sorted((r[columns.index("_ResourceId")].rsplit("/", 1)[1], r[columns.index("Kind")]) for r in rows)
    assert kinds == sorted([("api-stale", "rest"), ("calm", "rest"), ("calm", "lifetime"), ("idle-drop", "lifetime"),
                            ("stale-url", "refusals"), ("stale-url", "lifetime"), ("stale-url", "token-age"),
                            ("storm", "refusals"), ("storm", "lifetime"), ("storm", "refusal-ip"),
                            ("storm", "refusal-ip")])


def test_rest_rejections_name_callers_and_path_shapes_never_tokens():
    s = signals()[IDS["api-stale"]]
    assert (s.rest_rejected, s.rest_unauthorized) == (6, 5)
    assert s.rest_caller_ips == (REST_IP, "198.51.100.8")
    assert s.rest_paths == ("/api/hubs/{hub}/groups/{group}/connections/{connectionId}",
                            "/api/hubs/{hub}/users/{user}/:send")
    assert s.rest_first == NOW - timedelta(minutes=20) and s.rest_last == NOW - timedelta(minutes=3)
    assert TOKEN not in repr(signals()) and "alice" not in repr(s)


def test_lifetimes_cluster_near_idle_timeouts():
    s = signals()[IDS["idle-drop"]]
    assert (s.closes, s.server_closes) == (12, 0)
    assert s.lifetime_clusters == (LifetimeCluster(60, 10, 10),)


def test_the_timeout_list_is_configurable():
    columns, rows = queried(timeouts=(55, 300))
    s = log_signals.parse(columns, rows, IDS.values(), 30, (55, 300))[IDS["idle-drop"]]
    assert s.lifetime_clusters == ()  # 59-61 s is not within 3 s of 55


def test_refusals_at_a_regular_token_age():
    s = signals()[IDS["stale-url"]]
    assert (s.refusals, s.auth_refusals, s.refusal_ips) == (9, 9, 3)
    assert s.token_ages == (TokenAge(60, 3, 9),)


def test_refusals_per_ip():
    s = signals()[IDS["storm"]]
    assert (s.refusals, s.auth_refusals, s.refusal_ips, s.server_closes) == (64, 0, 6, 64)
    assert s.refusals_by_ip == ((STORM_IPS[0], 42), (STORM_IPS[1], 18))  # IPs under 5 refusals are not listed


def test_quiet_resources_are_observed_with_zeros_and_strangers_ignored():
    columns, rows = queried()
    parsed = log_signals.parse(columns, rows, [IDS["calm"].upper(), "/subscriptions/s/other"], 30, TIMEOUTS)
    assert set(parsed) == {IDS["calm"], "/subscriptions/s/other"}
    assert parsed["/subscriptions/s/other"] == LogSignals(window_minutes=30)
    assert (parsed[IDS["calm"]].rest_rejected, parsed[IDS["calm"]].closes) == (1, 5)


@pytest.mark.parametrize("ips, first", [
    ('["10.0.0.2","10.0.0.1"]', "2026-03-01T11:50:00.1234567Z"),  # JSON text, as the REST API sends dynamic
    (["10.0.0.2", "10.0.0.1"], datetime(2026, 3, 1, 11, 50, 0, 123456, tzinfo=timezone.utc)),  # already decoded
])
def test_parse_accepts_dynamic_as_text_or_list(ips, first):
    columns = ["Kind", "_ResourceId", "Count", "Unauthorized", "First", "CallerIps"]
    [s] = log_signals.parse(columns, [["rest", "/R", "2", "1", first, ips]], ["/r"], 30, TIMEOUTS).values()
    assert s.rest_caller_ips == ("10.0.0.1", "10.0.0.2") and (s.rest_rejected, s.rest_unauthorized) == (2, 1)
    assert s.rest_first == datetime(2026, 3, 1, 11, 50, 0, 123456, tzinfo=timezone.utc)


def test_the_query_looks_back_far_enough():
    query = log_signals.build_query(30, TIMEOUTS)
    assert "ago(30m)" in query and "ago(36m)" in query  # closes in the window, starts up to 240 s + 3 s before
    assert log_signals.lookback_minutes(30) == 180 and log_signals.lookback_minutes(240) == 240


def test_the_readme_documents_every_log_query_as_sent():
    from pathlib import Path

    from watchdog.collect import logs
    from watchdog.settings import Settings

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("<!-- section: log-queries -->", 1)[1].split("<!-- /section -->", 1)[0]
    defaults = Settings(subscriptions=("x",))
    query = logs.workspace_query(defaults.window_minutes, defaults.idle_timeouts)
    assert f"```kusto\n{query}\n```" in section


@pytest.mark.parametrize("name", NAMES)
def test_a_query_narrowed_to_one_resource_answers_for_it_as_the_whole_query_does(name):
    """`only` filters every table before anything is summarized: the resource's rows and figures
    are the same as in the workspace-wide query, and no other resource's row comes back."""
    from watchdog.collect import logs

    def rows(only: tuple[str, ...]) -> list[tuple]:
        result = run(logs.workspace_query(30, TIMEOUTS, only), workspace(), NOW)
        columns = [c for c, _ in result.columns]
        return sorted((tuple(sorted((c, repr(cell(r.get(c)))) for c in columns if r.get(c) is not None))
                       for r in result.rows if r.get("_ResourceId") == IDS[name] or only), key=repr)

    narrowed = rows((IDS[name],))
    assert narrowed == rows(())
    assert all(dict(r)["_ResourceId"] == repr(IDS[name]) for r in narrowed)
