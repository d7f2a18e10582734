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


class _Message(func.QueueMessage):
    def __init__(self, body: str) -> None:
        super().__init__(body=body.encode())


@pytest.fixture
def demo(emulator, monkeypatch, tmp_path):  # noqa: ANN001, ANN201
    monkeypatch.setenv("WATCHDOG_LEDGER", "sqlite")
    monkeypatch.setenv("WATCHDOG_SQLITE_PATH", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("WATCHDOG_KEY_VAULTS", ",".join(emulator.vault_urls()))
    return emulator


def test_without_resource_the_check_answers_with_the_timers_latest_report(demo) -> None:
    from tests.functions.test_functions_e2e import Timer

    functions()["sweep"].get_user_function()(Timer())
    demo.journal.clear()
    response = call_check("GET", {"format": "json"})
    assert response.status_code == 200 and int(response.headers["Age"]) >= 0 and response.headers["Last-Modified"]
    from tests.integration.test_demo_findings import EXPECTED

    kept = json.loads(response.get_body())["findings"]

    def row(f: dict) -> tuple[str, str, str, str, str]:  # as test_demo_findings keys them
        name = f["resource_id"].rsplit("/", 1)[-1]
        return (f["severity"], f["rule"], f["check"], name,
                name if f["subject"].lower() == f["resource_id"].lower() else f["subject"])

    assert {row(f) for f in kept} >= EXPECTED, "the timer's report holds what the demo plants"
    text = call_check("GET", {"format": "text"}).get_body().decode()
    assert text.startswith("Latest timer report, finished ")
    page = call_check("GET", headers={"Accept": "text/html"})
    assert page.mimetype == "text/html" and b"chat-prod" in page.get_body()
    assert demo.journal.writes() == []  # the GETs swept nothing


def test_a_fresh_check_runs_in_the_background_and_is_polled(demo, monkeypatch) -> None:
    monkeypatch.setenv("WATCHDOG_SECRET_SYNC", "plan")
    queued = Out()
    response = call_check("POST", {"fresh": "true", "mode": "on"}, runs=queued)
    assert response.status_code == 202
    run_id = json.loads(queued.get())["id"]
    location = response.headers["Location"]
    assert location == f"https://watchdog.azurewebsites.net/api/check/runs/{run_id}"
    assert "code=" not in location and int(response.headers["Retry-After"]) > 0

    waiting = call_run_status(run_id)
    assert waiting.status_code == 202 and json.loads(waiting.get_body())["status"] == "queued"
    functions()["check_background"].get_user_function()(_Message(queued.get()))
    done = call_run_status(run_id, {"format": "json"})
    assert done.status_code == 200
    document = json.loads(done.get_body())
    # mode=on was asked, but secret sync is configured plan: the request cannot raise it.
    assert document["mode"]["secret-sync"] == "plan"
    assert {o["status"] for o in document["outcomes"]} <= {"planned", "skipped"}
    assert [e for e in demo.journal.writes() if e.op != "arm.listKeys"] == []
    # A redelivered message runs nothing twice.
    demo.journal.clear()
    functions()["check_background"].get_user_function()(_Message(queued.get()))
    assert demo.journal.writes() == []


@pytest.mark.parametrize("run_id, status, code", [
    ("0" * 32, 404, "RunNotFound"),
    ("not-a-run", 400, "BadParameter"),
    ("A" * 32, 400, "BadParameter"),
])
def test_unknown_or_malformed_run_ids(configured, run_id, status, code) -> None:
    response = call_run_status(run_id)
    assert (response.status_code, _error(response)["code"]) == (status, code)


def test_a_run_that_died_with_its_host_reads_failed(configured) -> None:
    from watchdog.ledger import open_ledger
    from watchdog.settings import load

    settings, _ = load()
    with open_ledger(settings) as ledger:
        run = runs.new_run(ledger, "off", datetime(2020, 1, 1, tzinfo=timezone.utc))
    response = call_run_status(run.id)
    assert response.status_code == 500 and _error(response)["code"] == "CheckFailed"


def test_a_kept_report_renders_as_the_original_and_holds_no_secret(demo) -> None:
    from watchdog.ledger import open_ledger
    from watchdog.report import render
    from watchdog.settings import load
    from watchdog.sweep import run_sweep

    settings, _ = load()
    report = run_sweep(settings)
    with open_ledger(settings) as ledger:
        runs.save_report(ledger, "t", report, datetime.now(timezone.utc))
        runs.save_report(ledger, "t", report, datetime.now(timezone.utc))  # replaces, dropping the old rows
        kept = runs.load_report(ledger, "t")
        rows = ledger.cached_all(runs.REPORTS)
    assert kept is not None
    for fmt in ("json", "text", "markdown"):
        assert render(kept, fmt) == render(report, fmt)
    assert len(rows) == 1 + rows["t"].payload["parts"]
    stored = runs.dumps(report)
    assert "AccessKey=" not in stored


def test_a_background_run_that_fails_reads_failed_with_a_scrubbed_reason(configured, monkeypatch) -> None:
    import watchdog.sweep

    def crash(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - stands in for an SDK failure mid-sweep
        raise RuntimeError("GET https://kv.vault.azure.net/secrets/x?sig=leaked-signature failed")

    monkeypatch.setattr(watchdog.sweep, "run_sweep", crash)
    queued = Out()
    assert call_check("POST", {"fresh": "true"}, runs=queued).status_code == 202
    functions()["check_background"].get_user_function()(_Message(queued.get()))
    response = call_run_status(json.loads(queued.get())["id"])
    error = _error(response)
    assert response.status_code == 500 and error["code"] == "CheckFailed"
    assert "RuntimeError" in error["message"] and "leaked-signature" not in error["message"]
