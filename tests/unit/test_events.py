"""Event-driven checks without Azure: the event names against Microsoft's (the in-repo list),
both delivery schemas, and the ledger gate (replays, bursts, late deliveries, own actions)."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from emulator.eventgrid import resource_event, secret_event, to_cloud_event
from emulator.world import ActivityEvent, SecretVersion, Vault
from tests.factories import NOW, SUB, resource_id
from tests.specs import SPECS_DIR
from tests.unit.test_azure_names import published
from watchdog.events import gate, handle as handling, parse as parsing, types
from watchdog.events.parse import Change, Ignored
from watchdog.ledger.base import AuditEntry
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.models import Report
from watchdog.settings import Settings

EVENTS = SPECS_DIR / "events"
VAULTS = {"kv-team": "https://kv-team.vault.azure.net"}
RID = resource_id("wps-prod")


def listed() -> dict[str, set[str]]:
    sections: dict[str, set[str]] = {}
    current = ""
    for line in (EVENTS / "event-types.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("["):
            current = line.strip("[]")
        else:
            sections.setdefault(current, set()).add(line.strip())
    return sections


def test_the_event_types_are_microsofts_for_their_topic_type() -> None:
    sections = listed()
    assert set(types.RESOURCE_EVENTS) <= sections["Microsoft.Resources.Subscriptions"]
    assert set(types.SECRET_EVENTS) <= sections["Microsoft.KeyVault.vaults"]
    assert not {"Microsoft.Resources.ResourceWriteSucess"} <= sections["Microsoft.Resources.Subscriptions"]


def test_the_operations_are_published_web_pubsub_actions() -> None:
    assert all(op.lower() in published(False) for op in types.OPERATIONS)


def test_the_data_fields_read_are_in_microsofts_schemas() -> None:
    schema = json.loads((EVENTS / "schema.json").read_text())
    source = (Path(parsing.__file__)).read_text()
    used_resource = set(re.findall(r'data\.get\("(\w+)"\)', source))
    used_vault = set(re.findall(r'_ci\(data, "(\w+)"\)', source))
    assert used_resource and used_resource <= set(schema["resourceData"]["fields"])
    assert used_vault and used_vault <= set(schema["keyVaultData"]["fields"])
    # The emulator delivers what the schema requires.
    doc = resource_event("t", ActivityEvent(NOW, RID, types.REGENERATE_KEY, "someone"))
    assert set(schema["eventGridEnvelope"]["required"]) <= set(doc)
    assert set(schema["cloudEventEnvelope"]["required"]) <= set(to_cloud_event(doc))


def arm(op: str = types.REGENERATE_KEY, rid: str = RID, **kw) -> dict:
    return resource_event("t", ActivityEvent(kw.pop("at", NOW), rid, op, "someone", **kw))


def kv(name: str = "app-conn", version: str = "v2", vault: str = "kv-team") -> dict:
    return secret_event(Vault(vault, SUB, "rg"), name, SecretVersion(version, "value"))


@pytest.mark.parametrize("cloud", [False, True])
def test_both_schemas_give_the_same_change(cloud: bool) -> None:
    doc = arm()
    change = parsing.parse(to_cloud_event(doc) if cloud else doc, (SUB,), VAULTS)
    assert isinstance(change, Change) and change.target == RID.lower() and change.at == NOW
    assert change.event_type == types.RESOURCE_ACTION_SUCCESS and change.operation == types.REGENERATE_KEY
    secret = parsing.parse(to_cloud_event(kv()) if cloud else kv(), (SUB,), VAULTS)
    assert isinstance(secret, Change) and secret.target == "https://kv-team.vault.azure.net/secrets/app-conn"
    assert secret.version == "v2"


def test_a_cloud_event_without_its_type_and_time_is_read_from_its_data_as_of_its_arrival() -> None:
    """The Python worker's Event Grid converter keeps only the Event Grid schema's fields."""
    for doc in (kv(), arm()):
        stripped = {**to_cloud_event(doc), "type": None, "time": None}
        change = parsing.parse(stripped, (SUB,), VAULTS, received=NOW + timedelta(seconds=9))
        assert isinstance(change, Change) and change.at == NOW + timedelta(seconds=9)
    assert isinstance(parsing.parse({**to_cloud_event(arm()), "time": None}, (SUB,), VAULTS), Ignored)


@pytest.mark.parametrize("doc, reason", [
    (arm("Microsoft.Storage/storageAccounts/write"), "operation"),
    (arm("Microsoft.SignalRService/WebPubSub/listKeys/action"), "operation"),  # every sweep's own listKeys
    (arm(rid=resource_id("wps-other", "00000000-0000-0000-0000-00000000ffff")), "subscription"),
    (arm(status="Failed"), "status"),
    (kv(vault="kv-other"), "vault"),
    ({"id": "1", "eventType": "Microsoft.Storage.BlobCreated", "eventTime": "2026-03-01T12:00:00Z", "data": {"url": "x"}},
     "event type"),
    ({"eventType": types.RESOURCE_WRITE_SUCCESS}, "not an Event Grid event"),
])
def test_other_types_subscriptions_vaults_are_ignored_with_a_reason(doc: dict, reason: str) -> None:
    result = parsing.parse(doc, (SUB,), VAULTS)
    assert isinstance(result, Ignored) and reason in result.reason


def test_event_grid_time_with_seven_fractional_digits_parses() -> None:
    doc = {**arm(), "eventTime": "2026-03-01T12:00:00.1234567Z"}
    assert parsing.parse(doc, (SUB,), VAULTS).at == NOW + timedelta(microseconds=123456)


# -- the gate and the handler, on a real SQLite ledger; the sweep is a stand-in --------------

@pytest.fixture
def ledger(tmp_path):
    with SqliteLedger(tmp_path / "l.sqlite3") as led:
        yield led


class Clock:
    def __init__(self) -> None:
        self.now = NOW + timedelta(seconds=5)

    def __call__(self):
        return self.now


def run(doc: dict, ledger, clock: Clock, swept: list, settings: Settings | None = None):
    settings = settings or Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB, "WATCHDOG_LEDGER": "sqlite"})

    def sweep(settings, scope, mode, **kw):
        swept.append((scope.resources, kw["notify"]))
        clock.now += timedelta(seconds=3)
        return Report(started_at=clock.now, subscriptions=(SUB,))
    return handling.handle(doc, settings, ledger, clients=object(), now=clock, sweep=sweep)


def test_one_change_one_check_and_a_replay_or_duplicate_does_nothing(ledger) -> None:
    clock, swept = Clock(), []
    doc = arm()
    assert run(doc, ledger, clock, swept).decision == handling.CHECKED
    assert swept == [((RID.lower(),), False)], "notified after, on the swept resources only"
    assert run(dict(doc), ledger, clock, swept).decision == handling.DUPLICATE
    assert len(swept) == 1


def test_a_burst_becomes_one_check_and_a_late_old_event_is_covered(ledger) -> None:
    clock, swept = Clock(), []
    burst = [arm(at=NOW), arm(types.WRITE, at=NOW + timedelta(seconds=1)), arm(at=NOW + timedelta(seconds=2))]
    assert [run(d, ledger, clock, swept).decision for d in burst] == ["checked", "covered", "covered"]
    late = arm(types.WRITE, at=NOW - timedelta(minutes=3))  # delivered out of order
    assert run(late, ledger, clock, swept).decision == handling.COVERED
    after = arm(at=clock.now + timedelta(seconds=1))  # a change after the check started: checked
    assert run(after, ledger, clock, swept).decision == handling.CHECKED
    assert len(swept) == 2


def test_the_watchdogs_own_secret_write_and_scale_are_not_checked(ledger) -> None:
    clock, swept = Clock(), []
    uri = "https://kv-team.vault.azure.net/secrets/app-conn"
    ledger.record_action(AuditEntry(id="a1", at=NOW, resource_id=RID, kind="secret-sync", subject=uri,
                                    reason="drift", status="done", after={"version": "v2"}, verified=True))
    ledger.record_action(AuditEntry(id="a2", at=NOW, resource_id=RID, kind="scale", subject="capacity",
                                    reason="near cap", status="done", after={"units": 2}, verified=True))
    settings = Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB, "WATCHDOG_LEDGER": "sqlite",
                                  "WATCHDOG_KEY_VAULTS": "https://kv-team.vault.azure.net"})
    assert run(kv(version="v2"), ledger, clock, swept, settings).decision == handling.OWN
    assert run(arm(types.WRITE, at=NOW + timedelta(minutes=2)), ledger, clock, swept).decision == handling.OWN
    # Someone else's version of the same secret, or a regenerate, is checked.
    assert run(arm(types.REGENERATE_KEY, at=NOW + timedelta(minutes=2)), ledger, clock, swept).decision == "checked"
    assert gate.own_action(ledger, parsing.parse(kv(version="v3"), (SUB,), VAULTS)) is None
    assert len(swept) == 1


def test_a_check_already_running_for_the_target_makes_event_grid_retry(ledger) -> None:
    clock = Clock()
    assert ledger.acquire_lease(gate.lease_key(RID), "another-delivery", 300, clock())
    with pytest.raises(handling.Busy):
        run(arm(), ledger, clock, [])
    assert not gate.seen(ledger, arm()["id"])


def test_a_failed_sweep_leaves_the_event_unhandled_for_the_redelivery(ledger) -> None:
    clock, doc = Clock(), arm()
    settings = Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB, "WATCHDOG_LEDGER": "sqlite"})

    def broken(*a, **kw):
        raise ConnectionError("ARM unreachable")
    with pytest.raises(ConnectionError):
        handling.handle(doc, settings, ledger, clients=object(), now=clock, sweep=broken)
    assert gate.last_check(ledger, RID) is None and not gate.seen(ledger, doc["id"])
    assert run(doc, ledger, clock, []).decision == handling.CHECKED


def test_an_event_sweep_never_resolves_subscription_wide_findings_it_did_not_judge(ledger) -> None:
    from watchdog.ledger.base import FindingState
    from watchdog.models import Severity

    scope = f"/subscriptions/{SUB}"
    ledger.put_finding_state(FindingState("fp-deferred", "blind-spots", "keys-deferred", Severity.WARNING, scope, scope,
                                          "3 resource(s) deferred", "firing", NOW, NOW))
    assert run(arm(), ledger, Clock(), []).decision == handling.CHECKED
    assert ledger.finding_states()["fp-deferred"].status == "firing"
