"""Message grouping, the Teams card envelope, the webhook schema and signature, truncation, scrubbing."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from tests.factories import resource_id
from watchdog.ledger.base import FindingState
from watchdog.models import Action, Finding, Outcome, Sensitive, Severity
from watchdog.notify import teams, webhook
from watchdog.notify.lifecycle import Decision
from watchdog.notify.message import build_message, scrub

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
SINCE = NOW - timedelta(hours=6)
CANARY = "Q2FuYXJ5S2V5VmFsdWUtbmV2ZXItc2hvdy1tZQ=="
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "webhook-schema.json").read_text())


def finding(name: str, severity=Severity.WARNING, rule="capacity", **kw) -> Finding:
    return Finding(
        rule=rule, check=kw.pop("check", "near-cap"), severity=severity, resource_id=resource_id(name),
        subject=kw.pop("subject", "connections"), summary=kw.pop("summary", f"{name} at 92% of its connection cap"),
        evidence=kw.pop("evidence", {"peak": 920, "cap": 1000}), guidance=kw.pop("guidance", "Scale out to 2 units."),
    )


def state_of(f: Finding, status="firing", resolved=None) -> FindingState:
    return FindingState(f.fingerprint, f.rule, f.check, f.severity, f.resource_id, f.subject, f.summary, status,
                        SINCE, NOW, resolved)


def message(kinds: dict[str, list[Finding]], outcomes=None, target="ops"):
    decisions, findings, states = [], {}, {}
    for kind, fs in kinds.items():
        for f in fs:
            decisions.append(Decision(f.fingerprint, kind, f"because {kind}"))
            resolved = kind in ("fixed", "resolved")
            states[f.fingerprint] = state_of(f, "resolved" if resolved else "firing", NOW if resolved else None)
            if kind != "resolved":
                findings[f.fingerprint] = f
    return build_message(target, decisions, findings, states, outcomes or {}, NOW)


def scale_outcome(f: Finding) -> Outcome:
    action = Action("scale", f.resource_id, "capacity", "near cap", {"from": 1, "to": 2}, f.fingerprint)
    return Outcome(action, "done", verified=True, proof="SKU re-read: Standard_S1 x2", at=NOW)


NEW = finding("chat", Severity.CRITICAL, rule="key-drift", check="stale-key", subject="https://v.vault.azure.net/secrets/wps")
FIXED = finding("game")
STILL = finding("feed", Severity.WARNING, rule="upstream", check="probe-failed", subject="api.example.com")
GONE = finding("old", Severity.INFO, rule="posture", check="no-logs")
MIXED = {"firing": [NEW], "fixed": [FIXED], "reminder": [STILL], "resolved": [GONE]}


def test_groups_in_reading_order_with_counts_and_headline():
    m = message(MIXED, {FIXED.fingerprint: scale_outcome(FIXED)})
    # "deleted" (closed because the resource is gone) is a group of its own, empty here.
    assert [g.kind for g in m.groups] == ["firing", "fixed", "reminder", "resolved", "deleted"]
    assert m.counts == {"firing": 1, "fixed": 1, "reminder": 1, "resolved": 1, "deleted": 0}
    assert m.headline == "Web PubSub Watchdog: 1 new, 1 fixed by the watchdog, 1 still firing, 1 resolved"
    fixed = m.groups[1].items[0]
    assert fixed.remedy.summary == "scale 1 → 2 on capacity: done" and fixed.remedy.verified


def test_nothing_to_send_is_no_message():
    f = finding("chat")
    assert build_message("ops", [Decision(f.fingerprint, "none", "told")], {}, {}, {}, NOW) is None


def test_delivery_id_is_stable_for_the_same_content_and_differs_otherwise():
    a, b = message(MIXED), message(MIXED)
    assert a.delivery_id == b.delivery_id
    assert message(MIXED, target="platform").delivery_id != a.delivery_id
    assert message({"firing": [NEW]}).delivery_id != a.delivery_id


def test_two_reminders_of_one_episode_are_two_deliveries_of_one_alert():
    # A receiver dedupes by deliveryId (README): the second reminder must not look like a resend,
    # while the alert id stays the episode's.
    from watchdog.notify import webhook

    # The lifecycle stamps each reminder with when the target was last told (lifecycle.decide).
    states = {STILL.fingerprint: state_of(STILL, "firing", None)}
    first = build_message("ops", [Decision(STILL.fingerprint, "reminder", "still firing", last_told=NOW - timedelta(hours=4))],
                          {STILL.fingerprint: STILL}, states, {}, NOW)
    later = build_message("ops", [Decision(STILL.fingerprint, "reminder", "still firing", last_told=NOW)],
                          {STILL.fingerprint: STILL}, states, {}, NOW + timedelta(hours=4))
    assert first.delivery_id != later.delivery_id
    # A resend of the same message (a failed delivery retried next sweep) keeps its id.
    again = build_message("ops", [Decision(STILL.fingerprint, "reminder", "still firing", last_told=NOW)],
                          {STILL.fingerprint: STILL}, states, {}, NOW + timedelta(hours=4, minutes=5))
    assert again.delivery_id == later.delivery_id
    alert_ids = [json.loads(webhook.render(m).body)["alerts"][0]["data"]["essentials"]["alertId"] for m in (first, later)]
    assert alert_ids[0] == alert_ids[1]


def test_teams_envelope_is_exactly_the_workflows_shape():
    m = message(MIXED, {FIXED.fingerprint: scale_outcome(FIXED)})
    doc = json.loads(teams.payload(m))
    assert doc["type"] == "message" and len(doc["attachments"]) == 1
    att = doc["attachments"][0]
    assert set(att) == {"contentType", "contentUrl", "content"}
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive" and att["contentUrl"] is None
    card = att["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    text = json.dumps(card)
    for expected in (
        "CRITICAL", "key-drift/stale-key", NEW.summary, "How to fix:", "Scale out to 2 units.",
        "Watchdog did:", "SKU re-read", f"https://portal.azure.com/#@/resource{resource_id('chat')}", "peak", "920",
        m.delivery_id, "Resolved (1)", "Still firing (1)",
    ):
        assert expected in text, expected


def _blocks(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _blocks(value)
    elif isinstance(node, list):
        for value in node:
            yield from _blocks(value)


def test_teams_card_uses_only_adaptive_card_1_4_elements():
    card = json.loads(teams.payload(message(MIXED)))["attachments"][0]["content"]
    types = {b["type"] for b in _blocks(card["body"]) if "type" in b}
    assert types <= {"TextBlock", "FactSet", "Container"}
    facts = [f for b in _blocks(card["body"]) if b.get("type") == "FactSet" for f in b["facts"]]
    assert all(isinstance(f["title"], str) and isinstance(f["value"], str) for f in facts)


def test_long_groups_are_truncated_with_counts_and_fit_teams():
    many = [finding(f"r{i:03}", evidence={f"k{j}": "x" * 150 for j in range(8)}) for i in range(60)]
    m = message({"firing": many})
    body = teams.payload(m)
    assert len(body) <= teams.MAX_BYTES
    text = body.decode()
    assert "New (60)" in text and "more: see the watchdog" in text
    shown = text.count("at 92% of its connection cap")
    assert 0 < shown < 60 and f"…and {60 - shown} more" in text


def test_truncation_shows_the_worst_first():
    fs = [finding(f"w{i}") for i in range(12)] + [finding("zz-critical", Severity.CRITICAL)]
    group = message({"firing": fs}).truncated(3).groups[0]
    assert group.items[0].resource_name == "zz-critical" and (len(group.items), group.total) == (3, 13)


def test_webhook_document_validates_against_the_documented_schema():
    m = message(MIXED, {FIXED.fingerprint: scale_outcome(FIXED)})
    doc = json.loads(webhook.payload(m))
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(doc, SCHEMA, format_checker=jsonschema.FormatChecker())
    by_kind = {a["data"]["alertContext"]["notification"]: a["data"]["essentials"] for a in doc["alerts"]}
    assert by_kind["firing"]["monitorCondition"] == "Fired" and by_kind["firing"]["severity"] == "Sev0"
    assert by_kind["reminder"]["severity"] == "Sev2" and by_kind["resolved"]["severity"] == "Sev3"
    assert by_kind["resolved"]["monitorCondition"] == by_kind["fixed"]["monitorCondition"] == "Resolved"
    assert by_kind["resolved"]["resolvedDateTime"] == "2026-11-01T12:00:00Z"
    assert by_kind["firing"]["firedDateTime"] == "2026-11-01T06:00:00Z"
    assert by_kind["firing"]["alertTargetIDs"] == [resource_id("chat")]
    assert doc["deliveryId"] == m.delivery_id


def test_webhook_truncation_is_counted():
    many = [finding(f"r{i:03}") for i in range(webhook.ITEMS_PER_GROUP + 5)]
    doc = json.loads(webhook.payload(message({"firing": many})))
    assert doc["counts"]["firing"] == {"total": webhook.ITEMS_PER_GROUP + 5, "included": webhook.ITEMS_PER_GROUP}
    assert len(doc["alerts"]) == webhook.ITEMS_PER_GROUP
    jsonschema.validate(doc, SCHEMA)


def test_webhook_signature_verifies_with_the_shared_secret():
    secret = "a-shared-secret-of-some-length"
    m = message(MIXED)
    body = webhook.payload(m)
    headers = webhook.headers(m, body, Sensitive(secret))
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Watchdog-Signature"], expected)
    assert headers["X-Watchdog-Delivery"] == m.delivery_id
    assert "X-Watchdog-Signature" not in webhook.headers(m, body, None)
    tampered = body.replace(b"Fired", b"Resolved", 1)
    assert not hmac.compare_digest(
        "sha256=" + hmac.new(secret.encode(), tampered, hashlib.sha256).hexdigest(), headers["X-Watchdog-Signature"]
    )


@pytest.mark.parametrize(
    "text",
    [
        f"Endpoint=https://chat.webpubsub.azure.com;AccessKey={CANARY};Version=1.0;",
        f"handler https://api.example.com/hook?code={CANARY}&x=1 failed",
        f"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.{CANARY[:20].replace('=', 'x')} leaked",
    ],
)
def test_scrub_removes_keys_query_strings_and_tokens(text):
    assert CANARY[:20].replace("=", "x") not in scrub(text) and CANARY not in scrub(text)


def test_a_leaky_finding_still_yields_clean_payloads():
    leaky = finding(
        "chat",
        summary=f"stale AccessKey={CANARY}",
        evidence={"url": f"https://h.example/api?sig={CANARY}", "nested": {"cs": f"AccessKey={CANARY};"}},
        guidance=f"compare with https://x.example/?code={CANARY}",
    )
    m = message({"firing": [leaky]})
    assert CANARY not in teams.payload(m).decode()
    assert CANARY not in webhook.payload(m).decode()


def test_teams_and_webhook_link_each_resource_to_the_status_page_when_its_url_is_set():
    from dataclasses import replace as with_
    m = with_(message(MIXED), status_url="https://watchdog.contoso.com/api/check")
    card = json.loads(teams.payload(m))["attachments"][0]["content"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the status page",
                                "url": "https://watchdog.contoso.com/api/check?format=html"}]
    facts = [f for block in card["body"] if block["type"] == "Container" for item in block["items"]
             if item["type"] == "FactSet" for f in item["facts"] if f["title"] == "Status"]
    assert "[status page](https://watchdog.contoso.com/api/check?format=html&resource=chat)" in [f["value"] for f in facts]
    document = json.loads(webhook.payload(m))
    jsonschema.validate(document, SCHEMA)
    assert {a["data"]["alertContext"]["statusUrl"] for a in document["alerts"]} == {
        f"https://watchdog.contoso.com/api/check?format=html&resource={n}" for n in ("chat", "game", "feed", "old")}


def test_without_a_status_url_there_are_no_links():
    m = message(MIXED)
    assert "actions" not in json.loads(teams.payload(m))["attachments"][0]["content"]
    document = json.loads(webhook.payload(m))
    jsonschema.validate(document, SCHEMA)
    assert {a["data"]["alertContext"]["statusUrl"] for a in document["alerts"]} == {None}
