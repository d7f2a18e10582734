"""Fidelity of the emulated Log Analytics query API: the real LogsQueryClient (azure-monitor-query)
with DefaultAzureCredential against the emulator, and every raw body checked against
OperationalInsights.json (2022-10-27)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsQueryResult, LogsQueryStatus

from emulator.runtime import Emulator
from tests.specs import SPECS_DIR, validate_response

pytestmark = pytest.mark.integration

SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
LA_SPEC = "operationalinsights/data-plane/Microsoft.OperationalInsights/stable/2022-10-27/OperationalInsights.json"
HOUR = timedelta(hours=1)
COLUMN_TYPES = json.loads((SPECS_DIR / LA_SPEC).read_text())["definitions"]["logsColumnType"]["enum"]
CONNECTIVITY = ["TimeGenerated", "OperationName", "Level", "Message", "ConnectionId", "UserId", "CallerIpAddress",
                "Location", "_ResourceId", "Type"]


def logs() -> LogsQueryClient:
    return LogsQueryClient(DefaultAzureCredential())


def workspace(emulator: Emulator, name: str = "law-demo"):  # noqa: ANN201 - emulator.world.Workspace
    return next(w for w in emulator.world.workspaces.values() if w.name == name)


def rid(emulator: Emulator, name: str) -> str:
    return emulator.world.resource_by_name(name).id


def column(result: LogsQueryResult, name: str) -> list[Any]:
    table = result.tables[0]
    return [row[table.columns.index(name)] for row in table.rows]


def raw(method: str, path: str, token: bool = True, prefer: str | None = None, **kw: Any) -> requests.Response:
    headers = {"Prefer": prefer} if prefer else {}
    if token:
        headers["Authorization"] = "Bearer " + DefaultAzureCredential().get_token(
            "https://api.loganalytics.io/.default").token
    return requests.request(method, f"https://api.loganalytics.io/v1{path}", headers=headers, timeout=30, **kw)


def checked(response: requests.Response, status: int, template: str = "/workspaces/{workspaceId}/query") -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    method = response.request.method or "POST"
    validate_response(LA_SPEC, template, method, status, body)
    if status == 200:
        # The spec's column types are an open enum to the validator; hold the emulator to the list.
        assert {c["type"] for t in body["tables"] for c in t["columns"]} <= set(COLUMN_TYPES)
    return body


def test_query_workspace_returns_the_scenarios_rows(emulator: Emulator) -> None:
    result = logs().query_workspace(workspace(emulator).customer_id, "WebPubSubConnectivity", timespan=HOUR)
    assert result.status == LogsQueryStatus.SUCCESS
    assert result.tables[0].name == "PrimaryResult" and result.tables[0].columns == CONNECTIVITY
    assert column(result, "ConnectionId") == ["c-001", "c-101", "c-102"]  # oldest first
    assert all(isinstance(t, datetime) for t in column(result, "TimeGenerated"))
    assert set(column(result, "_ResourceId")) == {rid(emulator, "chat-prod").lower(), rid(emulator, "notify-prod").lower()}


def test_a_union_has_the_union_of_columns(emulator: Emulator) -> None:
    result = logs().query_workspace(workspace(emulator).customer_id,
                                    "union WebPubSubConnectivity, WebPubSubMessaging | where Level == 'Warning'",
                                    timespan=HOUR)
    assert result.tables[0].columns == CONNECTIVITY + ["TraceId"]
    # The where clause runs: the Informational abort of c-001 is left out.
    assert sorted(zip(column(result, "Type"), column(result, "TraceId"))) == [
        ("WebPubSubConnectivity", None)] * 2 + [("WebPubSubMessaging", "7f3a")]


def test_timespan_and_ago_bound_the_rows(emulator: Emulator) -> None:
    ws = workspace(emulator).customer_id
    recent = logs().query_workspace(ws, "WebPubSubConnectivity", timespan=timedelta(minutes=5))
    assert column(recent, "ConnectionId") == ["c-101", "c-102"]  # c-001 is 6 minutes old
    start = datetime.now().astimezone() - HOUR
    window = logs().query_workspace(ws, "WebPubSubConnectivity", timespan=(start, start + timedelta(minutes=55)))
    assert column(window, "ConnectionId") == ["c-001"]
    ago = logs().query_workspace(ws, "WebPubSubConnectivity | where TimeGenerated > ago(5m)", timespan=None)
    assert column(ago, "ConnectionId") == ["c-101", "c-102"]


def test_query_resource_with_a_workspace_arm_id_and_a_resource_filter(emulator: Emulator) -> None:
    notify = rid(emulator, "notify-prod")
    workspace_id = emulator.world.resource_by_name("notify-prod").diagnostics[0].workspace_id  # as a diagnostic setting says
    result = logs().query_resource(workspace_id, f"WebPubSubConnectivity | where _ResourceId =~ '{notify}'",
                                   timespan=HOUR)
    assert column(result, "ConnectionId") == ["c-101", "c-102"]
    listed = logs().query_resource(workspace_id, "union WebPubSubConnectivity, WebPubSubMessaging"
                                                 f" | where _ResourceId in~ ('{notify.upper()}')", timespan=HOUR)
    assert len(listed.tables[0].rows) == 3
    exact = logs().query_resource(workspace_id, f"WebPubSubConnectivity | where _ResourceId == '{notify}'",
                                  timespan=HOUR)
    assert exact.tables[0].rows == []  # Log Analytics stores _ResourceId lower-cased; == is case-sensitive


def test_query_resource_with_a_web_pubsub_id_reads_its_workspaces(emulator: Emulator) -> None:
    chat = logs().query_resource(rid(emulator, "chat-prod"), "WebPubSubConnectivity", timespan=HOUR)
    assert column(chat, "ConnectionId") == ["c-001"]
    blind = logs().query_resource(rid(emulator, "free-dev"), "WebPubSubConnectivity", timespan=HOUR)
    assert blind.tables[0].rows == []  # no diagnostic settings: nothing to read


def partial_scenario() -> dict[str, Any]:
    return {"name": "partial", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg", "location": "eastus",
        "workspaces": [{"name": "law-flaky", "partial_error": "Query exceeded the memory limit; results truncated.",
                        "tables": {"WebPubSubConnectivity": [{"minutes_ago": 2, "Message": "m", "_ResourceId":
                                                              "${id:wps}"}]}},
                       {"name": "law-locked", "forbidden": True}],
        "webpubsub": [{"name": "wps", "sku": "Standard_S1", "diagnostics": [{"workspace": "law-flaky"}]}]}]}]}


def test_partial_error_gives_a_partial_result(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory(partial_scenario())
    result = logs().query_workspace(workspace(emu, "law-flaky").customer_id, "WebPubSubConnectivity", timespan=HOUR)
    assert isinstance(result, LogsQueryPartialResult) and result.status == LogsQueryStatus.PARTIAL
    assert result.partial_error.code == "PartialError"
    assert result.partial_error.details[0]["message"].startswith("Query exceeded")
    assert len(result.partial_data[0].rows) == 1


def test_forbidden_and_unknown_workspaces_raise(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory(partial_scenario())
    with pytest.raises(HttpResponseError) as locked:
        logs().query_workspace(workspace(emu, "law-locked").customer_id, "WebPubSubConnectivity", timespan=HOUR)
    assert (locked.value.status_code, locked.value.error.code) == (403, "InsufficientAccessError")
    emu.deny("logs", workspace(emu, "law-flaky").id)
    with pytest.raises(HttpResponseError) as denied:
        logs().query_resource(workspace(emu, "law-flaky").id, "WebPubSubConnectivity", timespan=HOUR)
    assert denied.value.status_code == 403
    with pytest.raises(HttpResponseError) as unknown:
        logs().query_workspace("00000000-0000-0000-0000-000000000000", "WebPubSubConnectivity", timespan=HOUR)
    assert (unknown.value.status_code, unknown.value.error.code) == (404, "WorkspaceNotFoundError")


def test_every_body_matches_the_spec(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory("demo")
    ws = workspace(emu).customer_id
    by_id = "/{resourceId}/query"
    query = {"query": "union WebPubSubConnectivity, WebPubSubMessaging, WebPubSubHttpRequest", "timespan": "PT1H"}
    stats = raw("POST", f"/workspaces/{ws}/query", json=query, prefer="wait=60,include-statistics=true,include-render=true")
    body = checked(stats, 200)
    assert "statistics" in body and "render" in body
    assert stats.headers["Preference-Applied"] == "wait=60,include-statistics=true,include-render=true"
    checked(raw("GET", f"/workspaces/{ws}/query", params={"query": "WebPubSubMessaging", "timespan": "PT1H"}), 200)
    checked(raw("POST", f"{workspace(emu).id}/query", json=query), 200, by_id)
    checked(raw("GET", f"{rid(emu, 'chat-prod')}/query", params={"query": "WebPubSubConnectivity"}), 200, by_id)
    checked(raw("POST", f"/workspaces/{ws}/query", json={"query": "WebPubSubHttpRequest", "timespan": "PT1H"}), 200)
    checked(raw("POST", f"/workspaces/{ws}/query", json={"query": "Heartbeat | take 1"}), 400)
    checked(raw("POST", f"/workspaces/{ws}/query", json={"query": ""}), 400)
    checked(raw("POST", f"/workspaces/{ws}/query", json={"query": "WebPubSubMessaging", "timespan": "soon"}), 400)
    checked(raw("POST", f"/workspaces/{ws}/query", json=query, token=False), 401)
    checked(raw("POST", "/workspaces/00000000-0000-0000-0000-000000000000/query", json=query), 404)
    checked(raw("POST", f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/x/query", json=query),
            404, by_id)
    emu.deny("logs", "chat-prod")
    checked(raw("POST", f"{rid(emu, 'chat-prod')}/query", json=query), 403, by_id)
    partial = emulator_factory(partial_scenario())
    flaky = workspace(partial, "law-flaky").customer_id
    assert "error" in checked(raw("POST", f"/workspaces/{flaky}/query", json=query), 200)
