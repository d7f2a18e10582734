"""The connectivity rules end to end: the log-signals query sent by the real LogsQueryClient to the
emulated Log Analytics, executed by its KQL engine over planted rows (tests/log_rows.py), parsed,
and judged. One resource per rule, and a calm one that must stay silent."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import json

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential
from azure.monitor.query import LogsQueryClient

from emulator.runtime import Emulator
from tests.log_rows import NAMES, REST_IP, STORM_IPS, TOKEN, scenario
from tests.specs import SPECS_DIR, validate_response
from watchdog.checks import connectivity
from watchdog.collect import log_signals, logs
from watchdog.models import Observation, Severity
from watchdog.models_resource import Resource
from watchdog.settings import Settings

pytestmark = pytest.mark.integration

LA_SPEC = "operationalinsights/data-plane/Microsoft.OperationalInsights/stable/2022-10-27/OperationalInsights.json"
SETTINGS = Settings(subscriptions=("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",))


def resource(emu: Emulator, name: str) -> Resource:
    res = emu.world.resource_by_name(name)
    return Resource(id=res.id, subscription_id=SETTINGS.subscriptions[0], resource_group="rg-logs", name=name,
                    location="eastus", host_name=f"{name}.webpubsub.azure.com", sku_name="Standard_S1",
                    sku_tier="Standard", capacity=1)


def test_each_rule_fires_on_its_resource_through_the_real_client(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory(scenario())
    workspace = next(w for w in emu.world.workspaces.values() if w.name == "law-logs")
    ids = {n: emu.world.resource_by_name(n).id for n in NAMES}
    client = LogsQueryClient(DefaultAzureCredential())
    answer = logs.read_workspace(client, workspace.id, list(ids.values()), SETTINGS.window_minutes,
                                 SETTINGS.idle_timeouts)
    signals = answer.signals
    assert answer.partial_error is None and set(signals) == {i.lower() for i in ids.values()}
    assert TOKEN not in repr(signals)
    # The activity log showed api-stale's key regenerated before its 401s began.
    regen = signals[ids["api-stale"].lower()].rest_first - timedelta(minutes=30)
    signals[ids["api-stale"].lower()] = replace(signals[ids["api-stale"].lower()], key_regenerated_at=regen)

    judged = {}
    for name in NAMES:
        obs = Observation(resource=resource(emu, name), log_signals=signals[ids[name].lower()])
        judged[name] = connectivity.check(obs, SETTINGS, signals[ids[name].lower()].rest_last or regen)
    assert {n: sorted((f.check, f.subject, f.severity) for f in fs) for n, fs in judged.items()} == {
        "api-stale": [("unauthorized", "rest-api", Severity.CRITICAL)],
        "idle-drop": [("idle-timeout", ids["idle-drop"], Severity.WARNING)],
        "stale-url": [("token-expiry", ids["stale-url"], Severity.WARNING)],
        "storm": [("throttled-ips", ids["storm"], Severity.WARNING)],
        "calm": [],
    }
    [stale] = judged["api-stale"]
    assert stale.evidence["caller_ips"] == [REST_IP, "198.51.100.8"] and "old key" in stale.summary
    [idle] = judged["idle-drop"]
    assert idle.evidence["lifetime_seconds"] == 60 and idle.evidence["closes"] == 12
    [token] = judged["stale-url"]
    assert (token.evidence["age_minutes"], token.evidence["clients"]) == (60, 3)
    [storm] = judged["storm"]
    assert STORM_IPS[0] in storm.summary and STORM_IPS[1] in storm.summary
    assert all(TOKEN not in repr(f) for fs in judged.values() for f in fs)


def test_a_query_outside_the_subset_is_refused_as_log_analytics_would(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory(scenario())
    workspace = next(w for w in emu.world.workspaces.values() if w.name == "law-logs")
    client = LogsQueryClient(DefaultAzureCredential())
    with pytest.raises(HttpResponseError) as bad:
        client.query_resource(workspace.id, "WebPubSubConnectivity | mv-expand Message", timespan=timedelta(hours=1))
    assert (bad.value.status_code, bad.value.error.code) == (400, "BadArgumentError")
    assert bad.value.error.innererror["code"] == "SyntaxError"


def test_the_answer_matches_the_spec_with_log_analytics_column_types(emulator_factory) -> None:  # noqa: ANN001
    emu = emulator_factory(scenario())
    workspace = next(w for w in emu.world.workspaces.values() if w.name == "law-logs")
    token = DefaultAzureCredential().get_token("https://api.loganalytics.io/.default").token
    query = logs.workspace_query(SETTINGS.window_minutes, SETTINGS.idle_timeouts)
    response = requests.post(f"https://api.loganalytics.io/v1/workspaces/{workspace.customer_id}/query",
                             json={"query": query, "timespan": "PT3H"}, headers={"Authorization": "Bearer " + token},
                             timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    validate_response(LA_SPEC, "/workspaces/{workspaceId}/query", "POST", 200, body)
    types = {c["name"]: c["type"] for c in body["tables"][0]["columns"]}
    allowed = json.loads((SPECS_DIR / LA_SPEC).read_text())["definitions"]["logsColumnType"]["enum"]
    assert set(types.values()) <= set(allowed)
    assert (types["Count"], types["First"], types["CallerIps"], types["AgeMinutes"], types["Kind"]) == (
        "long", "datetime", "dynamic", "real", "string")


def test_a_partial_answer_is_kept_and_a_forbidden_workspace_raises(emulator_factory) -> None:  # noqa: ANN001
    data = scenario()
    group = data["subscriptions"][0]["resource_groups"][0]
    group["workspaces"][0]["partial_error"] = "Query exceeded the memory limit; results truncated. sig=abc"
    group["workspaces"].append({"name": "law-locked", "forbidden": True})
    emu = emulator_factory(data)
    flaky = next(w for w in emu.world.workspaces.values() if w.name == "law-logs")
    locked = next(w for w in emu.world.workspaces.values() if w.name == "law-locked")
    ids = [emu.world.resource_by_name(n).id for n in NAMES]
    client = LogsQueryClient(DefaultAzureCredential())
    answer = logs.read_workspace(client, flaky.id, ids, 30, SETTINGS.idle_timeouts)
    assert answer.partial_error is not None and answer.partial_error.startswith("PartialError")
    assert "abc" not in answer.partial_error
    assert answer.signals[ids[1].lower()].lifetime_clusters  # the rows that came back still count
    emu.deny("logs", locked.id)
    with pytest.raises(HttpResponseError) as denied:
        logs.read_workspace(client, locked.id, ids, 30, SETTINGS.idle_timeouts)
    assert denied.value.status_code == 403
