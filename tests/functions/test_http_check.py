"""The HTTP check's edges, called through app.get_functions() as the host calls it: malformed and
hostile requests (each with its status and body), GETs that never write, modes that a request can
lower but never raise, the latest timer report, and a fresh check run in the background."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import azure.functions as func
import pytest

from tests.functions.test_wiring import Out, call_check, call_run_status, functions
from watchdog.functions import runs

SUB = "00000000-0000-0000-0000-00000000cafe"
OTHER = "11111111-2222-3333-4444-555555555555"
RID = "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/chat-prod"


@pytest.fixture
def configured(monkeypatch, tmp_path):  # noqa: ANN001, ANN201
    """An app configured for one subscription with a SQLite ledger; no Azure reached."""
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUB)
    monkeypatch.delenv("WATCHDOG_SUBSCRIPTIONS", raising=False)
    monkeypatch.setenv("WATCHDOG_LEDGER", "sqlite")
    monkeypatch.setenv("WATCHDOG_SQLITE_PATH", str(tmp_path / "ledger.sqlite3"))


def _error(response: func.HttpResponse) -> dict:
    assert response.mimetype == "application/json"
    document = json.loads(response.get_body())
    assert set(document) == {"error"} and {"code", "parameter", "message"} <= set(document["error"])
    assert "Traceback" not in document["error"]["message"]
    return document["error"]


HOSTILE = [
    # (method, query, body, status, code, parameter, words in the message)
    ("POST", {}, b'{"resource": null}', 400, "BadParameter", "resource", "not null"),
    ("POST", {}, b'{"resource": 42}', 400, "BadParameter", "resource", "not a number"),
    ("POST", {}, b'{"resource": ["chat-prod"]}', 400, "BadParameter", "resource", "not an array"),
    ("POST", {}, b'{"resource": {"name": "chat-prod"}}', 400, "BadParameter", "resource", "not an object"),
    ("POST", {}, b'{"resource": true}', 400, "BadParameter", "resource", "not a boolean"),
    ("POST", {}, b'{"resource": ""}', 400, "BadParameter", "resource", "empty"),
    ("GET", {"resource": "   "}, b"", 400, "BadParameter", "resource", "empty"),
    ("GET", {"resource": "x" * 5000}, b"", 400, "BadParameter", "resource", "5000 characters"),
    ("GET", {"resource": "chat-prod'; DROP TABLE--"}, b"", 400, "BadParameter", "resource", "not a Web PubSub resource name"),
    ("GET", {"resource": "<script>alert(1)</script>"}, b"", 400, "BadParameter", "resource", "not a Web PubSub"),
    ("GET", {"resource": "/subscriptions/" + SUB + "/resourceGroups/rg/providers/Microsoft.Web/sites/app"}, b"",
     400, "BadParameter", "resource", "not a Web PubSub resource id"),
    ("GET", {"resource": "../../etc/passwd"}, b"", 400, "BadParameter", "resource", "not a Web PubSub"),
    ("GET", {"resource": RID.format(sub=OTHER)}, b"", 403, "OutOfScope", "resource", OTHER),
    ("GET", {"mode": "on", "resource": "chat-prod"}, b"", 405, "MethodNotAllowed", "mode", "POST"),
    ("GET", {"mode": "on"}, b"", 405, "MethodNotAllowed", "mode", "POST"),
    ("GET", {"fresh": "true"}, b"", 405, "MethodNotAllowed", "fresh", "POST"),
    ("GET", {"mode": "plan"}, b"", 400, "BadParameter", "mode", "fresh=true"),
    ("GET", {"fresh": "yes"}, b"", 400, "BadParameter", "fresh", "true or false"),
    ("POST", {}, b'{"mode": 1}', 400, "BadParameter", "mode", "not a number"),
    ("POST", {}, b'{"mode": "ON"}', 400, "BadParameter", "mode", "not one of off, plan, on"),
    ("POST", {}, b'{"format": null}', 400, "BadParameter", "format", "not null"),
    ("POST", {}, b'"chat-prod"', 400, "BadParameter", "body", "JSON object"),
    ("POST", {}, b"\xff\xfe", 400, "BadParameter", "body", "not JSON"),
    ("POST", {}, b'{"__proto__": {}}', 400, "BadParameter", "__proto__", "unknown parameter"),
    ("GET", {}, b"", 404, "NoReportYet", None, "fresh=true"),  # no timer sweep has finished yet
]


@pytest.mark.parametrize("method, query, body, status, code, parameter, words", HOSTILE)
def test_malformed_and_hostile_requests(configured, method, query, body, status, code, parameter, words) -> None:
    response = call_check(method, query, body)
    error = _error(response)
    assert (response.status_code, error["code"], error["parameter"]) == (status, code, parameter)
    assert words in error["message"]
    if status == 405:
        assert response.headers["Allow"] == "POST"


def test_enough_hostile_requests_are_tabled() -> None:
    assert len(HOSTILE) >= 15


def test_a_name_in_no_subscription_is_404_naming_the_subscriptions_searched(emulator, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WATCHDOG_LEDGER", "sqlite")
    monkeypatch.setenv("WATCHDOG_SQLITE_PATH", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("WATCHDOG_KEY_VAULTS", ",".join(emulator.vault_urls()))
    subscription = emulator.world.subscriptions[0].lower()
    for name in ("None", "chat-prd"):  # what `{"resource": null}` used to become; a typo
        response = call_check("GET", {"resource": name})
        error = _error(response)
        assert response.status_code == 404 and error["subscriptions"] == [subscription]
        assert subscription in error["message"] and repr(name) in error["message"]
    assert emulator.journal.writes() == []
