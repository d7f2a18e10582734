"""Event-driven checks end to end: the emulator's Event Grid delivers what changed to the
Functions `events` function (in-process, as the host calls it); real SDKs, a SQLite ledger."""
from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from emulator.eventgrid import EventGrid
from tests.functions.event_delivery import function_endpoint
from tests.functions.test_functions_e2e import TEAMS, Timer
from tests.functions.test_wiring import functions
from watchdog import connstr
from watchdog.events import gate
from watchdog.ledger.sqlite import SqliteLedger

pytestmark = pytest.mark.integration

VAULT, SECRET, RESOURCE = "kv-demo-contoso", "presence-connection", "presence-eu"
FAST = {"delay_seconds": 1.0, "jitter_seconds": 0.5, "retry_seconds": [0.2], "max_attempts": 3}


@pytest.fixture
def app(request, emulator, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """The Function App's settings on the demo: secret sync on, Teams, a SQLite ledger; Event Grid
    delivering in the schema the test names (default: the Event Grid schema)."""
    monkeypatch.setenv("WATCHDOG_KEY_VAULTS", ",".join(emulator.vault_urls()))
    monkeypatch.setenv("WATCHDOG_SCHEDULE", "0 */5 * * * *")
    monkeypatch.setenv("WATCHDOG_LEDGER", "sqlite")
    monkeypatch.setenv("WATCHDOG_SQLITE_PATH", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("WATCHDOG_SECRET_SYNC", "on")
    monkeypatch.setenv("WATCHDOG_NOTIFY_TARGETS", "teams")
    monkeypatch.setenv("WATCHDOG_NOTIFY_TEAMS_KIND", "teams")
    monkeypatch.setenv("WATCHDOG_NOTIFY_TEAMS_URL", f"https://{TEAMS}/workflows/w/triggers/manual/paths/invoke?sig=s")
    errors: list[BaseException] = []
    schema = getattr(request, "param", "eventgrid")
    with EventGrid(emulator.world, function_endpoint(errors), schema=schema, **FAST) as grid:
        yield emulator, grid, tmp_path / "ledger.sqlite3", errors


def ledger_of(path) -> SqliteLedger:  # noqa: ANN001
    return SqliteLedger(path)


def secret_versions(emulator) -> list:  # noqa: ANN001
    return list(emulator.world.vaults[VAULT].secrets[SECRET])


@pytest.mark.parametrize("app", ["eventgrid", "cloudevents"], indirect=True)
def test_an_out_of_band_regenerate_reaches_teams_fixed_and_proven_within_60_seconds(app) -> None:
    emulator, grid, path, errors = app
    res = emulator.world.resource_by_name(RESOURCE)
    before = len(secret_versions(emulator))
    changed_at = emulator.now()

    emulator.regenerate_key(RESOURCE, "primary")  # someone in the portal; no timer runs
    assert grid.drain(60) and not errors

    cards = emulator.deliveries(TEAMS)
    assert len(cards) == 1, "one card for the change"
    assert RESOURCE in str(cards[0].json())
    assert cards[0].at - changed_at < timedelta(seconds=60)
    written = secret_versions(emulator)[before:]
    assert len(written) == 1, "secret sync wrote one new version, and its own write caused no second"
    assert connstr.parse(written[0].value).access_key.reveal() == res.key("primary")
    with ledger_of(path) as ledger:
        done = [a for a in ledger.actions(res.id) if a.kind == "secret-sync" and a.status == "done"]
        assert len(done) == 1 and done[0].verified is True and done[0].after["version"] == written[0].version
        decisions = {e.payload["decision"] for e in ledger.cached_all(gate.SEEN).values()}
    assert written[0].created - changed_at < timedelta(seconds=60)
    # Two deliveries: the regenerateKey (checked) and the watchdog's own new version (ignored).
    assert [e["eventType"] for e in grid.delivered()] == [
        "Microsoft.Resources.ResourceActionSuccess", "Microsoft.KeyVault.SecretNewVersionCreated"]
    assert decisions == {"checked", "own"}


def test_replayed_and_duplicated_events_change_nothing_and_the_timer_does_not_announce_again(app, monkeypatch) -> None:
    emulator, grid, path, errors = app
    monkeypatch.setenv("WATCHDOG_SECRET_SYNC", "off")  # the finding stays firing for the timer to see
    emulator.regenerate_key(RESOURCE, "primary")
    assert grid.drain(60) and not errors
    versions, journal = len(secret_versions(emulator)), len(emulator.journal)
    first = grid.delivered()[0]

    grid.publish(copy.deepcopy(first))  # Event Grid redelivers (at least once)
    grid.publish(copy.deepcopy(first))
    late = copy.deepcopy(first) | {"id": "a-new-id-for-the-same-old-change"}  # out of order: older than the check
    grid.publish(late)
    assert grid.drain(60) and not errors

    assert len(emulator.deliveries(TEAMS)) == 1
    assert len(secret_versions(emulator)) == versions
    assert len(emulator.journal) == journal, "no Azure call at all: the ledger answered"

    functions()["sweep"].get_user_function()(Timer())  # the safety net sweeps everything...
    cards = emulator.deliveries(TEAMS)
    assert len(cards) > 1, "the timer announced the demo's other findings"
    # ...and announces other resources' findings, but not this one again: one lifecycle.
    assert sum(RESOURCE in str(c.json()) and "drift" in str(c.json()).lower() for c in cards) == 1


def test_events_for_other_types_subscriptions_and_unwatched_vaults_are_acknowledged_and_ignored(app) -> None:
    emulator, grid, path, errors = app
    event = {"id": "e1", "topic": "/subscriptions/x", "subject": "s", "eventType": "Microsoft.Resources.ResourceWriteSuccess",
             "eventTime": "2026-12-02T07:00:00.1234567Z", "dataVersion": "2", "metadataVersion": "1",
             "data": {"operationName": "Microsoft.Storage/storageAccounts/write", "status": "Succeeded",
                      "resourceUri": "/subscriptions/6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg"
                                     "/providers/Microsoft.Storage/storageAccounts/st1"}}
    other_sub = copy.deepcopy(event) | {"id": "e2"}
    other_sub["data"] = {"operationName": "Microsoft.SignalRService/WebPubSub/regenerateKey/action",
                         "status": "Succeeded", "resourceUri": "/subscriptions/00000000-0000-0000-0000-000000000001"
                         "/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/elsewhere"}
    vault = {"id": "e3", "topic": "/t", "subject": "x", "eventType": "Microsoft.KeyVault.SecretNewVersionCreated",
             "eventTime": "2026-12-02T07:00:00Z", "dataVersion": "1", "metadataVersion": "1",
             "data": {"Id": "https://kv-other.vault.azure.net/secrets/x/1", "VaultName": "kv-other",
                      "ObjectType": "Secret", "ObjectName": "x", "Version": "1"}}
    journal = len(emulator.journal)
    for doc in (event, other_sub, vault):
        grid.publish(doc)
    assert grid.drain(60) and not errors

    assert [s.status for s in grid.sent] == [200, 200, 200], "acknowledged, so Event Grid does not retry"
    assert len(emulator.journal) == journal and not emulator.deliveries(TEAMS)


def test_on_table_storage_as_deployed_a_regenerate_is_announced_once_however_often_delivered(
        app, azurite_table, monkeypatch) -> None:  # noqa: ANN001
    import uuid

    emulator, grid, sqlite_path, errors = app
    monkeypatch.setenv("WATCHDOG_LEDGER", "table")
    monkeypatch.setenv("AzureWebJobsStorage", azurite_table)
    monkeypatch.setenv("WATCHDOG_LEDGER_TABLE", f"t{uuid.uuid4().hex[:12]}")  # Azurite is shared by the session
    emulator.regenerate_key(RESOURCE, "primary")
    assert grid.drain(60) and not errors
    versions = len(secret_versions(emulator))
    for _ in range(2):
        grid.publish(copy.deepcopy(grid.delivered()[0]))
    assert grid.drain(60) and not errors
    assert len(emulator.deliveries(TEAMS)) == 1 and len(secret_versions(emulator)) == versions
    assert not sqlite_path.exists(), "the ledger was Table Storage"
