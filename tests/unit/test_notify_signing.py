"""Standard Webhooks signatures against the specification's published example values."""
from __future__ import annotations

import base64

import pytest

from watchdog.models import Sensitive
from watchdog.notify import signing
from watchdog.notify.targets import load_notify_config
from watchdog.settings import ConfigError

# From standard-webhooks/standard-webhooks: libraries/python/tests/test_webhooks.py::test_sign_function
# and libraries/go/webhook_test.go::TestWebhookSign (the same values in both).
SPEC_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SPEC_WRONG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="  # the libraries' "invalid signature" case


def test_the_specifications_example_signature():
    got = signing.headers(SPEC_ID, SPEC_BODY, Sensitive(SPEC_KEY), clock=lambda: SPEC_TIMESTAMP + 0.9)
    assert got == {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": SPEC_SIGNATURE}
    assert got["webhook-signature"] != SPEC_WRONG


@pytest.mark.parametrize("change", ["id", "timestamp", "body", "key"])
def test_each_signed_part_changes_the_signature(change):
    key, msg_id, ts, body = signing.secret_key(SPEC_KEY), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY
    if change == "id":
        msg_id += "x"
    elif change == "timestamp":
        ts += 1
    elif change == "body":
        body += b" "
    else:
        key = key[:-1] + b"\0"
    assert signing.sign(key, msg_id, ts, body) != SPEC_SIGNATURE


def test_a_plain_secret_is_its_utf8_bytes_the_same_as_its_whsec_form():
    plain = "webhook-shared-secret-ü-0123456789"
    as_whsec = "whsec_" + base64.b64encode(plain.encode()).decode()
    assert signing.secret_key(plain) == plain.encode() == signing.secret_key(as_whsec)
    a = signing.headers("d1", b"{}", Sensitive(plain), clock=lambda: 1)
    b = signing.headers("d1", b"{}", Sensitive(as_whsec), clock=lambda: 1)
    assert a == b


def test_without_a_secret_id_and_timestamp_still_go():
    assert signing.headers("d1", b"{}", None, clock=lambda: 7) == {"webhook-id": "d1", "webhook-timestamp": "7"}


@pytest.mark.parametrize("secret, message", [
    ("whsec_not base64!!", "WATCHDOG_NOTIFY_HOOK_SECRET starts with whsec_ but the rest is not base64"),
    ("whsec_" + base64.b64encode(b"0123456789abcdef").decode(),
     "WATCHDOG_NOTIFY_HOOK_SECRET a whsec_ secret must decode to at least 24 bytes (it has 16)"),
])
def test_a_bad_whsec_secret_is_refused_by_name_without_echoing_it(secret, message):
    env = {"WATCHDOG_NOTIFY_TARGETS": "hook", "WATCHDOG_NOTIFY_HOOK_URL": "https://hooks.example.com/x",
           "WATCHDOG_NOTIFY_HOOK_KIND": "webhook", "WATCHDOG_NOTIFY_HOOK_SECRET": secret}
    with pytest.raises(ConfigError) as caught:
        load_notify_config(env)
    assert str(caught.value) == message and secret not in str(caught.value)


def test_an_id_with_a_dot_is_refused():
    with pytest.raises(ValueError):
        signing.headers("a.b", b"{}", None)


def test_each_attempt_is_signed_at_its_own_time_with_the_same_id():
    """The spec: the timestamp is the attempt's; the id stays the same across retries."""
    from tests.factories import ManualClock
    from tests.unit.test_notify_delivery import Response, Session

    from watchdog.notify.delivery import post

    wall = iter([1_700_000_000, 1_700_000_031])
    session = Session({"hooks.example.com": [Response(503, {"Retry-After": "30"}), Response(200)]})
    clock = ManualClock()
    result = post("https://hooks.example.com/x", b"{}", lambda: signing.headers("d1", b"{}", Sensitive(SPEC_KEY),
                                                                               clock=lambda: next(wall)),
                  deadline=60, session=session, clock=clock, sleep=clock.sleep)
    assert result.status == "delivered" and result.attempts == 2
    sent = [headers for _, _, headers in session.sent]
    assert [h["webhook-id"] for h in sent] == ["d1", "d1"]
    assert [h["webhook-timestamp"] for h in sent] == ["1700000000", "1700000031"]
    assert sent[0]["webhook-signature"] != sent[1]["webhook-signature"]


def test_webhook_id_is_new_for_each_reminder_and_kept_by_its_retries(tmp_path):
    """A receiver drops a repeated webhook-id: two reminders about one episode are two messages
    and must not share one; a reminder that failed and goes again next sweep is the same message."""
    from datetime import timedelta

    from tests.unit.test_notify_delivery import DRIFT, T0, Response, Session, sweep
    from watchdog.ledger.sqlite import SqliteLedger

    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    try:
        ids = {}
        for label, at, script in [("firing", T0, []), ("reminder-1", T0 + timedelta(hours=4, minutes=1), []),
                                  ("reminder-2", T0 + timedelta(hours=8, minutes=2), []),
                                  ("reminder-3", T0 + timedelta(hours=12, minutes=3), [Response(503)] * 12),
                                  ("reminder-3-retry", T0 + timedelta(hours=12, minutes=8), [])]:
            session = Session({"hooks.example.com": list(script)})
            summary = {x["target"]: x for x in sweep(ledger, session, [DRIFT], at)}
            ids[label] = summary["platform"]["delivery_id"]
            assert {h["webhook-id"] for host, _, h in session.sent if host == "hooks.example.com"} == {ids[label]}
    finally:
        ledger.close()
    assert len({ids["firing"], ids["reminder-1"], ids["reminder-2"], ids["reminder-3"]}) == 4
    assert ids["reminder-3-retry"] == ids["reminder-3"]
