"""The Functions as the host sees them: indexed through app.get_functions(), called with host objects."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import azure.functions as func
import pytest

import function_app

ROOT = Path(__file__).resolve().parents[2]


# The host calls get_functions() once per process; a second call re-validates and fails.
_FUNCTIONS = {f.get_function_name(): f for f in function_app.app.get_functions()}


def functions() -> dict[str, func.FunctionBuilder]:
    return _FUNCTIONS


def bindings(name: str) -> list[dict]:
    return json.loads(functions()[name].get_function_json())["bindings"]


class Out(func.Out[str]):
    """An output binding as the host hands it: what the function set is what the host sends."""

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, val: str) -> None:
        self.value = val

    def get(self) -> str | None:
        return self.value


def call_check(method: str = "GET", params: dict | None = None, body: bytes = b"",
               headers: dict | None = None, runs: Out | None = None) -> func.HttpResponse:
    user_function = functions()["check"].get_user_function()
    request = func.HttpRequest(method=method, url="https://watchdog.azurewebsites.net/api/check",
                               params=params or {}, body=body,
                               headers={"Content-Type": "application/json", **(headers or {})})
    return user_function(request, runs if runs is not None else Out())


def call_run_status(run_id: str, params: dict | None = None) -> func.HttpResponse:
    request = func.HttpRequest(method="GET", url=f"https://watchdog.azurewebsites.net/api/check/runs/{run_id}",
                               params=params or {}, body=b"", route_params={"id": run_id})
    return functions()["check_run"].get_user_function()(request)


def test_the_host_indexes_exactly_the_timer_http_queue_and_event_functions() -> None:
    assert sorted(functions()) == ["check", "check_background", "check_run", "events", "sweep"]
    assert [b["type"] for b in bindings("events")] == ["eventGridTrigger"]
    queue_out = next(b for b in bindings("check") if b["type"] == "queue")
    queue_in = next(b for b in bindings("check_background") if b["type"] == "queueTrigger")
    assert queue_out["queueName"] == queue_in["queueName"] and queue_in["connection"] == "AzureWebJobsStorage"
    status = next(b for b in bindings("check_run") if b["type"] == "httpTrigger")
    assert status["route"] == "check/runs/{id}" and status["methods"] == ["GET"]
    timer = next(b for b in bindings("sweep") if b["type"] == "timerTrigger")
    assert timer["schedule"] == "%WATCHDOG_SCHEDULE%"
    http = next(b for b in bindings("check") if b["type"] == "httpTrigger")
    assert http["route"] == "check"
    assert sorted(m.upper() for m in http["methods"]) == ["GET", "POST"]
    assert http["authLevel"].upper() == "FUNCTION"


@pytest.mark.parametrize("method, params, body, parameter", [
    ("GET", {"format": "xml"}, b"", "format"),
    ("GET", {"mode": "yolo"}, b"", "mode"),
    ("GET", {"resource": "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/x"}, b"", "resource"),
    ("GET", {"resource": "a b"}, b"", "resource"),
    ("GET", {"resorce": "chat"}, b"", "resorce"),
    ("GET", {"format": "html", "severity": "loud"}, b"", "severity"),
    ("POST", {}, b"{not json", "body"),
    ("POST", {}, b"[1, 2]", "body"),
    ("POST", {}, b'{"format": "pdf"}', "format"),
])
def test_bad_parameters_get_400_naming_them_without_a_trace(method, params, body, parameter) -> None:
    response = call_check(method, params, body)
    assert response.status_code == 400
    error = json.loads(response.get_body())["error"]
    assert error["parameter"] == parameter
    assert error["message"] and "Traceback" not in error["message"]


def test_a_configuration_error_is_500_naming_the_setting(monkeypatch) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    monkeypatch.delenv("WATCHDOG_SUBSCRIPTIONS", raising=False)
    response = call_check("GET", {"format": "json"})
    assert response.status_code == 500
    assert "AZURE_SUBSCRIPTION_ID" in json.loads(response.get_body())["error"]["message"]


def test_importing_function_app_loads_no_azure_sdk() -> None:
    """Cold start: the host imports function_app to index; SDKs load only when a function runs."""
    code = ("import sys, function_app; heavy = sorted(m for m in sys.modules if m.startswith(("
            "'azure.mgmt', 'azure.monitor', 'azure.keyvault', 'azure.identity', 'azure.data', "
            "'azure.messaging', 'azure.core.pipeline.transport', 'requests'))); print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_timer_sweep_that_cannot_load_its_settings_is_a_failed_sweep_span(monkeypatch) -> None:
    """The dead man's switch's companion alert counts failed sweep spans: a configuration error
    raised before the sweep starts must be one."""
    from tests.otel_capture import capture
    from watchdog import telemetry
    from watchdog.config import ConfigError

    captured = capture()
    monkeypatch.setattr(telemetry, "_PROCESS", captured.telemetry)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    monkeypatch.delenv("WATCHDOG_SUBSCRIPTIONS", raising=False)
    class OnTime(func.TimerRequest):
        past_due = False

    with pytest.raises(ConfigError, match="AZURE_SUBSCRIPTION_ID"):
        functions()["sweep"].get_user_function()(OnTime())
    (span,) = captured.spans()
    assert span.name == telemetry.SWEEP_SPAN and span.status.status_code.name == "ERROR"
    assert span.events[0].attributes["exception.type"].endswith("ConfigError")
