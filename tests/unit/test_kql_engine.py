"""The emulator's KQL engine: each operator and function of the subset, result types as Log
Analytics reports them, and errors for anything outside the subset."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from emulator.kql import KqlError, Table, cell, run

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
COLS = [("TimeGenerated", "datetime"), ("OperationName", "string"), ("Message", "string"),
        ("ConnectionId", "string"), ("CallerIpAddress", "string"), ("_ResourceId", "string")]


def row(seconds_ago: float, op: str, message: str = "", conn: str = "c1", ip: str = "10.0.0.1", rid: str = "r1"):
    return {"TimeGenerated": NOW - timedelta(seconds=seconds_ago), "OperationName": op, "Message": message,
            "ConnectionId": conn, "CallerIpAddress": ip, "_ResourceId": rid}


ROWS = [
    row(600, "ConnectionStarted", "Connection started", "c1"),
    row(540, "ConnectionEnded", "Connection ended", "c1"),
    row(300, "ConnectionStarted", "Connection started", "c2", "10.0.0.2"),
    row(210, "ConnectionAborted", "Connection count reaches limit", "c2", "10.0.0.2", "r2"),
    row(30, "ConnectionStarted", "Failed to validate audience. Expected Audiences: x", "c3", "10.0.0.2", "r2"),
]
TABLES = {"Conn": Table(list(COLS), ROWS), "Http": Table([("StatusCode", "string"), ("_ResourceId", "string")],
                                                         [{"StatusCode": "401", "_ResourceId": "r1"}])}


def q(query: str) -> Table:
    return run(query, TABLES, NOW)


def col(table: Table, name: str) -> list:
    return [r[name] for r in table.rows]


@pytest.mark.parametrize("predicate, ids", [
    ('OperationName == "ConnectionStarted"', ["c1", "c2", "c3"]),
    ('OperationName == "connectionstarted"', []),  # == is case-sensitive
    ('OperationName =~ "connectionstarted"', ["c1", "c2", "c3"]),
    ('OperationName != "ConnectionStarted"', ["c1", "c2"]),
    ('OperationName in ("ConnectionEnded", "ConnectionAborted")', ["c1", "c2"]),
    ('OperationName in~ ("connectionended")', ["c1"]),
    ('OperationName !in ("ConnectionStarted")', ["c1", "c2"]),
    ('Message has "limit"', ["c2"]),
    ('Message has "lim"', []),  # has matches whole terms
    ('Message has "validate audience"', ["c3"]),
    ('Message contains "LIM"', ["c2"]),
    ('Message !contains "connection"', ["c3"]),
    ("Message startswith 'failed'", ["c3"]),
    ("TimeGenerated > ago(5m)", ["c2", "c3"]),
    ("TimeGenerated between (ago(6m) .. ago(1m))", ["c2", "c2"]),
    ("TimeGenerated >= datetime(2026-03-01T11:55:00Z)", ["c2", "c2", "c3"]),
    ('not(Message has "connection") or ConnectionId == "c1" and OperationName == "ConnectionEnded"', ["c1", "c3"]),
])
def test_where(predicate, ids):
    assert col(q(f"Conn | where {predicate}"), "ConnectionId") == ids


def test_union_of_tables_and_subqueries_has_every_column():
    result = q('union isfuzzy=true Http, (Conn | where ConnectionId == "c3" | project ConnectionId), Missing')
    assert result.columns == [("StatusCode", "string"), ("_ResourceId", "string"), ("ConnectionId", "string")]
    assert [(r.get("StatusCode"), r.get("ConnectionId")) for r in result.rows] == [("401", None), (None, "c3")]


def test_union_without_isfuzzy_needs_every_table():
    with pytest.raises(KqlError) as e:
        q("union Http, Missing")
    assert e.value.code == "SemanticError" and "Missing" in e.value.message


def test_summarize_aggregations_and_types():
    result = q('Conn | summarize n = count(), started = countif(OperationName == "ConnectionStarted"),'
               " first = min(TimeGenerated), last = max(TimeGenerated), ips = dcount(CallerIpAddress),"
               ' firstEnd = minif(TimeGenerated, OperationName != "ConnectionStarted"),'
               ' lastStart = maxif(TimeGenerated, OperationName == "ConnectionStarted"),'
               " set = make_set(CallerIpAddress) by _ResourceId | order by _ResourceId asc")
    assert dict(result.columns) == {"_ResourceId": "string", "n": "long", "started": "long", "first": "datetime",
                                    "last": "datetime", "ips": "long", "firstEnd": "datetime",
                                    "lastStart": "datetime", "set": "dynamic"}
    r1, r2 = result.rows
    assert (r1["n"], r1["started"], r1["ips"], r1["set"]) == (3, 2, 2, ["10.0.0.1", "10.0.0.2"])
    assert r1["firstEnd"] == NOW - timedelta(seconds=540) and r1["lastStart"] == NOW - timedelta(seconds=300)
    assert (r2["n"], r2["started"], r2["firstEnd"]) == (2, 1, NOW - timedelta(seconds=210))


def test_summarize_without_by_gives_one_row_even_when_empty():
    result = q('Conn | where ConnectionId == "none" | summarize count(), m = max(TimeGenerated)')
    assert result.rows == [{"count_": 0, "m": None}]


def test_bin_and_arithmetic_pair_connections():
    result = q('Conn | summarize Start = minif(TimeGenerated, OperationName == "ConnectionStarted"),'
               ' End = maxif(TimeGenerated, OperationName != "ConnectionStarted") by ConnectionId'
               " | where isnotnull(End) | extend Lifetime = (End - Start) / 1s,"
               " Diff = datetime_diff('second', End, Start), Span = End - Start, Bucket = bin(Start, 5m)"
               " | project ConnectionId, Lifetime, Diff, Span, Bucket | sort by ConnectionId asc")
    assert dict(result.columns) == {"ConnectionId": "string", "Lifetime": "real", "Diff": "long",
                                    "Span": "timespan", "Bucket": "datetime"}
    assert [(r["ConnectionId"], r["Lifetime"], r["Diff"]) for r in result.rows] == [("c1", 60.0, 60), ("c2", 90.0, 90)]
    assert cell(result.rows[0]["Span"]) == "00:01:00"
    assert cell(result.rows[0]["Bucket"]) == "2026-03-01T11:50:00.0000000Z"


def test_summarize_by_bin_of_a_number_and_named_keys():
    result = q("let size = 100; Conn | extend Age = (now() - TimeGenerated) / 1s"
               " | summarize Rows = count() by Bucket = bin(Age, size), Ip = CallerIpAddress | order by Bucket desc")
    assert [(r["Bucket"], r["Ip"], r["Rows"]) for r in result.rows] == [
        (600.0, "10.0.0.1", 1), (500.0, "10.0.0.1", 1), (300.0, "10.0.0.2", 1), (200.0, "10.0.0.2", 1),
        (0.0, "10.0.0.2", 1)]


def test_functions():
    result = q("Conn | take 1 | project a = strcat('x', 1, true), b = tolower('AbC'), c = iff(1 > 2, 'y', 'n'),"
               " d = coalesce('', 'z'), e = extract(@'^https://[^/]+(/[^?]*)', 1, 'https://h/api/hubs/chat?key=s'),"
               " f = replace_regex('/api/hubs/chat/users/u1', @'/users/[^/]+', @'/users/{user}'),"
               " g = tolong('42'), h = toreal('1.5'), i = abs(-3), j = round(2.56, 1), k = isempty(''),"
               " l = tostring(7), m = 7 / 2, n = 7.0 / 2, o = 10 % 4")
    assert result.rows == [{"a": "x1true", "b": "abc", "c": "n", "d": "z", "e": "/api/hubs/chat",
                            "f": "/api/hubs/chat/users/{user}", "g": 42, "h": 1.5, "i": 3, "j": 2.6, "k": True,
                            "l": "7", "m": 3, "n": 3.5, "o": 2}]
    assert dict(result.columns)["m"] == "long" and dict(result.columns)["n"] == "real"


def test_order_take_and_limit():
    assert col(q("Conn | order by TimeGenerated desc | take 2"), "ConnectionId") == ["c3", "c2"]
    assert col(q("Conn | sort by ConnectionId asc, TimeGenerated desc | limit 3"), "ConnectionId") == ["c1", "c1", "c2"]


@pytest.mark.parametrize("query, code", [
    ("Conn | join (Http) on _ResourceId", "SyntaxError"),  # an operator outside the subset
    ("Conn | where", "SyntaxError"),
    ("Conn | where Message has_any ('a')", "SyntaxError"),
    ("Conn | where Message = 'a'", "SyntaxError"),
    ("Conn | take 1 | bogus", "SyntaxError"),
    ("Conn | where Nope == 1", "SemanticError"),
    ("Conn | project Nope", "SemanticError"),
    ("Conn | where parse_json(Message) == 1", "SemanticError"),
    ("Conn | summarize percentile(TimeGenerated, 50)", "SemanticError"),
    ("Conn | summarize count() by bin(TimeGenerated, 1m), bogus(Message)", "SemanticError"),
    ("Conn | where OperationName", "SemanticError"),  # not a boolean
    ("Heartbeat | take 1", "SemanticError"),
    ("Conn | take -1", "SemanticError"),
    ("Conn | where TimeGenerated > datetime(yesterday)", "SyntaxError"),
])
def test_outside_the_subset_fails(query, code):
    with pytest.raises(KqlError) as e:
        q(query)
    assert e.value.code == code, e.value.message


def test_cells_as_log_analytics_writes_them():
    assert cell(datetime(2026, 3, 1, 12, 0, 1, 5000, tzinfo=timezone.utc)) == "2026-03-01T12:00:01.0050000Z"
    assert cell(timedelta(days=1, seconds=3661, microseconds=500000)) == "1.01:01:01.5"
    assert cell(["a", "b"]) == '["a","b"]' and cell(3) == 3 and cell(None) is None


@pytest.mark.parametrize("query", [
    "Http | where StatusCode == 401",  # StatusCode is a string in Log Analytics
    "Http | where StatusCode in (401, 403)",
    "Conn | where TimeGenerated > 5",
    "Conn | extend x = Message + 1",
    "Conn | where Message and true",
])
def test_mismatched_types_fail_instead_of_matching_nothing(query):
    with pytest.raises(KqlError) as e:
        q(query)
    assert e.value.code == "SemanticError"


def test_a_union_row_lacking_a_legs_column_reads_null():
    result = q('union Http, Conn | where Message has "limit" or StatusCode == "401" | project StatusCode, Message')
    assert [(r["StatusCode"], r["Message"]) for r in result.rows] == [
        ("401", None), (None, "Connection count reaches limit")]


def test_a_dynamic_columns_properties_by_dot_and_by_bracket():
    from datetime import datetime, timezone

    from emulator.kql import Table, run

    rows = [{"Name": "a", "Properties": {"rule": "x"}}, {"Name": "b", "Properties": {}}, {"Name": "c", "Properties": None}]
    table = Table([("Name", "string"), ("Properties", "dynamic")], rows)
    out = run('T | extend r = tostring(Properties.rule), s = tostring(Properties["rule"]) | project Name, r, s',
              {"T": table}, datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert [(r["Name"], r["r"], r["s"]) for r in out.rows] == [("a", "x", "x"), ("b", "", ""), ("c", "", "")]
