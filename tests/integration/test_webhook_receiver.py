"""The README's webhook receiver example, run as written against real deliveries to the emulator."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from requests.structures import CaseInsensitiveDict

from tests.unit.test_notify_signing import SPEC_BODY, SPEC_ID, SPEC_KEY, SPEC_SIGNATURE, SPEC_TIMESTAMP, SPEC_WRONG
from tests.factories import ManualClock
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.models import Finding, Report, Severity
from watchdog.models_resource import Resource
from watchdog.notify import notify
from watchdog.notify.targets import load_notify_config

pytestmark = pytest.mark.integration
README = Path(__file__).parents[2] / "README.md"
SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
HOOK = "hooks.contoso.com"
PLAIN = "webhook-shared-secret-0123456789"
WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()
CHAT = Resource(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/chat", SUB,
                "rg", "chat", "westeurope", "chat.webpubsub.azure.com", "Standard_S1", "Standard", 1)
DRIFT = Finding("key-drift", "stale-key", Severity.CRITICAL, CHAT.id, "https://kv.vault.azure.net/secrets/chat",
                "Key Vault secret holds a regenerated key")
CAP = Finding("capacity", "near-cap", Severity.WARNING, CHAT.id, "connections", "92% of the connection cap")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def readme_receiver() -> dict:
    """Executes the README's Python block that defines verify(), exactly as a reader copies it."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = [b for b in blocks if "def verify(" in b]
    assert len(code) == 1, "the README has one receiver example"
    namespace: dict = {}
    exec(compile(code[0], "README.md (receiver example)", "exec"), namespace)  # noqa: S102
    return namespace




def _send(emulator, ledger, secret: str, findings: list[Finding], at: datetime) -> None:  # noqa: ANN001
    config = load_notify_config({"WATCHDOG_NOTIFY_TARGETS": "platform", "WATCHDOG_NOTIFY_DEFAULT": "platform",
                                 "WATCHDOG_NOTIFY_PLATFORM_URL": f"https://{HOOK}/watchdog",
                                 "WATCHDOG_NOTIFY_PLATFORM_KIND": "webhook",
                                 "WATCHDOG_NOTIFY_PLATFORM_SECRET": secret})
    clock = ManualClock()
    report = Report(started_at=at, subscriptions=(SUB,), resources=[CHAT], findings=findings)
    notify(report, ledger, config, at, clock=clock, sleep=clock.sleep)


@pytest.mark.parametrize("secret", [PLAIN, WHSEC], ids=["plain", "whsec"])
def test_the_readme_receiver_accepts_real_deliveries_and_refuses_forgeries_and_replays(emulator_factory, tmp_path,
                                                                                        secret):
    emulator = emulator_factory({"name": "receiver", "subscriptions": [{"id": SUB}], "hosts": {
        HOOK: {"kind": "webhook", "behaviour": "status", "status": 503, "fail_times": 1}}})
    receiver = readme_receiver()
    verify, key = receiver["verify"], receiver["webhook_key"](secret)
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    try:
        _send(emulator, ledger, secret, [DRIFT], T0)  # refused once (503), then accepted
        _send(emulator, ledger, secret, [DRIFT, CAP], T0 + timedelta(minutes=5))  # a second message
    finally:
        ledger.close()
    sent = emulator.deliveries(HOOK)
    assert [d.status for d in sent] == [503, 200, 200]
    ids = [d.headers["webhook-id"] for d in sent]
    assert ids[0] == ids[1] == sent[0].json()["deliveryId"]  # a retry keeps its id...
    assert ids[2] != ids[0]  # ...and another message has its own

    for d in sent:
        headers, stamp = CaseInsensitiveDict(d.headers), int(d.headers["webhook-timestamp"])
        assert verify(key, headers, d.body)
        assert verify(key, headers, d.body, now=stamp + 299) and verify(key, headers, d.body, now=stamp - 299)
        assert not verify(key, headers, d.body, now=stamp + 301)  # a replay, 5 minutes later
        assert not verify(key, headers, d.body, now=stamp - 301)  # from too far in the future
        assert not verify(key, headers, d.body + b" ")
        assert not verify(key + b"x", headers, d.body)  # another secret
        assert not verify(key, CaseInsensitiveDict({**d.headers, "webhook-id": "another"}), d.body)
        assert not verify(key, CaseInsensitiveDict({**d.headers, "webhook-timestamp": str(stamp + 1)}), d.body,
                          now=stamp)
        assert not verify(key, CaseInsensitiveDict({k: v for k, v in d.headers.items() if k != "webhook-signature"}),
                          d.body)
        # The deprecated header still goes, keyed with the setting's text as before.
        legacy = "sha256=" + hmac.new(secret.encode(), d.body, hashlib.sha256).hexdigest()
        assert d.headers["X-Watchdog-Signature"] == legacy and d.headers["X-Watchdog-Delivery"] == headers["webhook-id"]
        assert secret not in str(d.headers)


def test_the_readme_receiver_agrees_with_the_specifications_example():
    receiver = readme_receiver()
    key = receiver["webhook_key"](SPEC_KEY)
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": SPEC_SIGNATURE}
    assert receiver["verify"](key, headers, SPEC_BODY, now=SPEC_TIMESTAMP)
    # The libraries' case: several signatures, space separated, one of them valid.
    several = {**headers, "webhook-signature": f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {SPEC_SIGNATURE}"}
    assert receiver["verify"](key, several, SPEC_BODY, now=SPEC_TIMESTAMP)
    assert not receiver["verify"](key, {**headers, "webhook-signature": SPEC_WRONG}, SPEC_BODY, now=SPEC_TIMESTAMP)
    assert not receiver["verify"](key, headers, SPEC_BODY)  # 2021: long stale
