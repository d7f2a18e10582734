"""The timer and HTTP functions, called as the host calls them, against the emulator and Azurite."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import azure.functions as func
import jsonschema
import pytest

from tests.functions.test_wiring import call_check, functions
from tests.integration.test_demo_findings import EXPECTED as DEMO_FINDINGS
from watchdog.ledger import open_ledger
from watchdog.models import Severity
from watchdog.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEAMS = "prod-27.westeurope.logic.azure.com"


class Timer(func.TimerRequest):
    def __init__(self, past_due: bool = False) -> None:
        self._past_due = past_due

    @property
    def past_due(self) -> bool:
        return self._past_due


@pytest.fixture
def demo(emulator, azurite_table, monkeypatch):  # noqa: ANN001, ANN201
    """The demo subscription, and host storage (Azurite) as the Functions host has it."""
    monkeypatch.setenv("WATCHDOG_KEY_VAULTS", ",".join(emulator.vault_urls()))
    monkeypatch.setenv("WATCHDOG_SCHEDULE", "0 */5 * * * *")
    monkeypatch.setenv("AzureWebJobsStorage", azurite_table)
    monkeypatch.setenv("WATCHDOG_LEDGER_TABLE", f"t{uuid.uuid4().hex[:12]}")  # Azurite is shared by the session
    return emulator


def test_http_check_returns_the_timers_report_as_json_matching_its_schema(demo) -> None:
    functions()["sweep"].get_user_function()(Timer())
    response = call_check("GET", {"format": "json"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = json.loads(response.get_body())
    jsonschema.validate(document, json.loads((ROOT / "docs" / "report-schema.json").read_text()))
    assert len(document["findings"]) == len(DEMO_FINDINGS)
    assert demo.journal.writes() == [e for e in demo.journal.writes() if e.op == "arm.listKeys"]


def test_http_check_narrows_to_one_resource_by_name_and_renders_markdown(demo) -> None:
    response = call_check("POST", body=json.dumps({"resource": "free-dev", "format": "markdown"}).encode())
    assert response.status_code == 200 and response.mimetype == "text/markdown"
    text = response.get_body().decode()
    assert "free-dev" in text and "chat-prod" not in text


def test_http_check_plan_mode_plans_without_writing(demo) -> None:
    response = call_check("GET", {"mode": "plan", "format": "json", "resource": "chat-prod"})
    document = json.loads(response.get_body())
    assert {o["status"] for o in document["outcomes"]} <= {"planned", "skipped"}
    assert any(o["status"] == "planned" for o in document["outcomes"])
    assert not [e for e in demo.journal.writes() if e.op != "arm.listKeys"]


def test_http_get_never_advances_a_rotation_even_with_mode_on(demo, monkeypatch) -> None:
    """Rotation on and one under way (started as `python -m watchdog rotate` does): a GET with
    mode=on is refused (405), and with mode=plan shows the rotation's next step as planned; neither
    writes anything."""
    from datetime import datetime, timezone

    from watchdog.remediate.rotate import begin

    monkeypatch.setenv("WATCHDOG_ROTATE", "on")
    monkeypatch.setenv("WATCHDOG_SECRET_SYNC", "off")
    monkeypatch.setenv("WATCHDOG_SCALE", "off")
    with open_ledger(Settings.from_env()) as ledger:
        begin(ledger, demo.world.resource_by_name("notify-prod").id, datetime.now(timezone.utc))
    refused = call_check("GET", {"mode": "on", "format": "json", "resource": "notify-prod"})
    assert refused.status_code == 405 and json.loads(refused.get_body())["error"]["parameter"] == "mode"
    response = call_check("GET", {"mode": "plan", "format": "json", "resource": "notify-prod"})
    document = json.loads(response.get_body())
    rotations = [o for o in document["outcomes"] if o["action"]["kind"] == "rotate"]
    assert [(o["status"], o["action"]["subject"]) for o in rotations] == [("planned", "write-secondary")]
    assert not demo.journal.where(op="arm.regenerateKey") and not demo.journal.where(op="keyvault.setSecret")


def test_timer_sweep_notifies_and_records_in_table_storage(demo, monkeypatch) -> None:
    monkeypatch.setenv("WATCHDOG_NOTIFY_TARGETS", "teams")
    monkeypatch.setenv("WATCHDOG_NOTIFY_TEAMS_KIND", "teams")
    monkeypatch.setenv("WATCHDOG_NOTIFY_TEAMS_URL", f"https://{TEAMS}/workflows/w/triggers/manual/paths/invoke?sig=s3cret")

    functions()["sweep"].get_user_function()(Timer())

    cards = demo.deliveries(TEAMS)
    assert len(cards) == 1 and cards[0].json()["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    ledger = open_ledger(Settings.from_env())
    try:
        states = ledger.finding_states()
        assert len(states) == len(DEMO_FINDINGS) and {s.status for s in states.values()} == {"firing"}
        # The target's minimum severity is warning (the default): info findings are not sent.
        assert set(ledger.notify_states("teams")) == {fp for fp, s in states.items() if s.severity >= Severity.WARNING}
    finally:
        ledger.close()
    # The timer's modes come from settings (plan by default): nothing was changed.
    assert not [e for e in demo.journal.writes() if e.op != "arm.listKeys"]

    # A second run finds nothing new to say: no duplicate message.
    functions()["sweep"].get_user_function()(Timer(past_due=True))
    assert len(demo.deliveries(TEAMS)) == 1


def test_an_unavailable_ledger_fails_the_timer_after_reporting_and_the_check_answers_503(emulator, monkeypatch,
                                                                                         table_unavailable) -> None:
    from watchdog.ledger.guard import LedgerUnavailable

    demo = emulator
    monkeypatch.setenv("WATCHDOG_KEY_VAULTS", ",".join(emulator.vault_urls()))
    monkeypatch.setenv("WATCHDOG_SCHEDULE", "0 */5 * * * *")
    monkeypatch.setenv("AzureWebJobsStorage", table_unavailable)
    monkeypatch.setenv("WATCHDOG_NOTIFY_TARGETS", "teams")
    monkeypatch.setenv("WATCHDOG_NOTIFY_TEAMS_KIND", "teams")
    monkeypatch.setenv("WATCHDOG_NOTIFY_TEAMS_URL", f"https://{TEAMS}/workflows/w/triggers/manual/paths/invoke?sig=s3cret")

    with pytest.raises(LedgerUnavailable):  # the host counts the invocation as failed
        functions()["sweep"].get_user_function()(Timer())
    assert demo.deliveries(TEAMS) == [], "nothing sent that could not be recorded"

    latest = call_check("GET", {"format": "json"})  # the timer's kept report cannot be read
    assert latest.status_code == 503 and json.loads(latest.get_body())["error"]["code"] == "LedgerUnavailable"
    response = call_check("GET", {"format": "json", "resource": "chat-prod"})  # swept, nothing recorded
    body = json.loads(response.get_body())
    assert response.status_code == 503 and body["error"]["code"] == "LedgerUnavailable"
    assert any(f["rule"] == "blind-spot" and f["check"].startswith("ledger-") and f["severity"] == "critical"
               for f in body["error"]["report"]["findings"])
