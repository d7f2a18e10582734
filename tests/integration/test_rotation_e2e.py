"""Staged key rotation end to end: the real SDKs against the emulator, a real SQLite ledger, time
travel for the grace periods, and two apps reading the rotated secret that make data-plane calls
between every sweep (so a key regenerated under one of them would show as a 401).

The demo's notify-prod logs to workspace law-demo; its secret notify-prod-connection (vault
kv-demo-contoso) holds its secondary key. Rotation is due when a key is older than 30 days: the
test regenerates notify-prod's primary key (an activity-log entry), then travels 31 days.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from watchdog.azure import AzureClients
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.rotation import Stage
from watchdog.scope import Scope
from watchdog.sweep import run_sweep

from .sweep_helpers import settings_for

pytestmark = pytest.mark.integration

VAULT = "https://kv-demo-contoso.vault.azure.net"
SECRET = "notify-prod-connection"
TEAMS = "prod-27.westeurope.logic.azure.com"
GRACE = 60
ROTATE = {"rotate": "on"}
SCOPE = Scope(resources=("notify-prod",))


def ref(version: str = "") -> str:
    return f"@Microsoft.KeyVault(SecretUri={VAULT}/secrets/{SECRET}/{version})"


@pytest.fixture
def env(emulator, monkeypatch, tmp_path):  # noqa: ANN001
    with emulator.world.lock:
        emulator.world.sites.clear()
    emulator.add_site("notify-api", {"WebPubSub": ref()}, consumer="WebPubSub")
    emulator.add_site("notify-worker", {"Conn": f"@Microsoft.KeyVault(VaultName=kv-demo-contoso;SecretName={SECRET})"},
                      kind="functionapp", consumer="Conn")
    emulator.regenerate_key("notify-prod", "primary")
    emulator.advance_clock(timedelta(days=31))
    settings = settings_for(emulator, monkeypatch, WATCHDOG_ROTATE="on", WATCHDOG_ROTATE_DAYS="30",
                            WATCHDOG_ROTATE_GRACE_MINUTES=str(GRACE), WATCHDOG_NOTIFY_TARGETS="teams",
                            WATCHDOG_NOTIFY_TEAMS_KIND="teams",
                            WATCHDOG_NOTIFY_TEAMS_URL=f"https://{TEAMS}/workflows/t/triggers/manual/paths/invoke?sig=s")
    with AzureClients(settings) as clients, SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        yield emulator, settings, clients, ledger


def sweep(env, notify: bool = False):  # noqa: ANN001
    emulator, settings, clients, ledger = env
    return run_sweep(settings, SCOPE, ROTATE, clients=clients, ledger=ledger, now=emulator.now(), notify=notify)


def consumers_all_accepted(emulator) -> dict[str, int | None]:  # noqa: ANN001
    calls = {name: call.status for name, call in emulator.consume_all().items()}
    assert calls == {"notify-api": 202, "notify-worker": 202}, calls
    return calls


def regenerations(emulator) -> list:  # noqa: ANN001
    return [e for e in emulator.journal.where(op="arm.regenerateKey")]


def stage(report) -> str | None:  # noqa: ANN001
    obs = report.observations[0]
    return None if obs.rotation is None or obs.rotation.record is None else str(obs.rotation.record.stage)


def test_a_full_rotation_across_sweeps_never_rejects_a_consumer(env):
    emulator, settings, clients, ledger = env
    res = emulator.world.resource_by_name("notify-prod")
    keys_before = res.current_keys()
    consumers_all_accepted(emulator)

    first = sweep(env)
    assert [(f.rule, f.check) for f in first.findings if f.rule == "rotation"] == [("rotation", "due")]
    (step,) = [o for o in first.outcomes if o.action.kind == "rotate"]
    assert step.status == "done" and step.verified, step.reason
    assert step.action.subject == "write-secondary" and step.after["stage"] == Stage.GRACE_SECONDARY
    consumers_all_accepted(emulator)

    emulator.advance_clock(timedelta(minutes=5))
    waiting = sweep(env)
    assert [o for o in waiting.outcomes if o.action.kind == "rotate"] == [], "within the grace: nothing to do"
    (f,) = [f for f in waiting.findings if f.rule == "rotation"]
    assert f.check == "in-progress" and "regenerate-primary" in f.summary
    consumers_all_accepted(emulator)

    steps = ["write-secondary"]
    for expected in ("regenerate-primary", "write-primary", "regenerate-secondary"):
        if expected.startswith("regenerate"):
            emulator.advance_clock(timedelta(minutes=GRACE + 1))
        else:
            emulator.advance_clock(timedelta(minutes=5))
        report = sweep(env)
        (step,) = [o for o in report.outcomes if o.action.kind == "rotate"]
        assert (step.action.subject, step.status, step.verified) == (expected, "done", True), step.reason
        steps.append(step.action.subject)
        consumers_all_accepted(emulator)  # after every step: no app ever rejected
        assert len(regenerations(emulator)) == steps.count("regenerate-primary") + steps.count("regenerate-secondary")

    record = ledger.cached("rotate", res.id.lower())
    assert record.payload["stage"] == "done"
    primary, secondary = res.current_keys()
    assert primary != keys_before[0] and secondary != keys_before[1], "both keys end different"
    assert [e.path.rsplit("/", 1)[-1] for e in regenerations(emulator)] == ["regenerateKey"] * 2
    # Each step in the audit trail, with its proof.
    trail = [e for e in sorted(ledger.actions(res.id), key=lambda e: e.at) if e.kind == "rotate"
             and e.status == "done"]
    assert [e.subject for e in trail] == steps
    assert all(e.verified and e.proof for e in trail)
    assert "data plane 404 (accepted)" in trail[0].proof and "notify-api" in trail[0].proof
    assert "primary new, the other unchanged" in trail[1].proof
    # The secrets hold the new primary; no key anywhere in the trail.
    vault = emulator.world.vaults["kv-demo-contoso"]
    assert primary in vault.latest(SECRET).value and vault.latest(SECRET).tags["webpubsub-key"] == "primary"
    text = json.dumps([e.__dict__ for e in ledger.actions()], default=str) + json.dumps(record.payload)
    assert not [k for k in (*keys_before, primary, secondary) if k in text]

    emulator.advance_clock(timedelta(minutes=5))
    after = sweep(env)
    assert [f for f in after.findings if f.rule == "rotation"] == [], "just rotated: not due"
    consumers_all_accepted(emulator)


def test_a_consumer_pinned_mid_rotation_pauses_it_before_any_regeneration(env):
    emulator, settings, clients, ledger = env
    before = emulator.world.vaults["kv-demo-contoso"].latest(SECRET).version
    first = sweep(env)
    assert stage(first) is None and [o.status for o in first.outcomes if o.action.kind == "rotate"] == ["done"]
    # An app deployed mid-rotation pins the version the rotation moved away from.
    emulator.add_site("legacy-app", {"WebPubSub": ref(before)}, consumer="WebPubSub")
    emulator.advance_clock(timedelta(minutes=GRACE + 1))

    paused = sweep(env, notify=True)
    (f,) = [f for f in paused.findings if f.rule == "rotation"]
    assert f.check == "paused" and f.evidence["stage"] == "grace-after-secondary"
    assert "legacy-app (WebPubSub) pins version" in f.summary
    (step,) = [o for o in paused.outcomes if o.action.kind == "rotate"]
    assert step.status == "skipped" and step.guard == "consumer-holdout"
    assert regenerations(emulator) == [], "nothing regenerated while an app still holds the key"
    card = json.dumps(emulator.deliveries(TEAMS)[-1].json())
    assert "paused at stage grace-after-secondary" in card and "legacy-app" in card and "pins version" in card

    emulator.advance_clock(timedelta(minutes=GRACE + 1))
    still = sweep(env)
    assert regenerations(emulator) == [] and stage(still) == "grace-after-secondary"
    assert ledger.cached("rotate", still.observations[0].resource.id.lower()).payload["paused"] == "consumer-holdout"


def test_a_rest_401_during_the_grace_pauses_it_before_any_regeneration(env):
    emulator, settings, clients, ledger = env
    sweep(env)
    res = emulator.world.resource_by_name("notify-prod")
    # A server outside Key Vault (a plain setting) still holds a key that no longer works.
    emulator.add_site("old-server", {"Conn": f"Endpoint=https://{res.host};AccessKey={res.stale_key('primary')};"
                                             "Version=1.0;"}, consumer="Conn")
    assert emulator.consume("old-server").status == 401
    emulator.advance_clock(timedelta(minutes=GRACE + 1))
    paused = sweep(env)
    (step,) = [o for o in paused.outcomes if o.action.kind == "rotate"]
    assert step.status == "skipped" and step.guard == "rest-401" and "1 REST call(s) rejected" in step.reason
    assert regenerations(emulator) == []


def test_the_cli_plans_the_schedule_then_starts_one_step(emulator, monkeypatch, tmp_path, capsys):  # noqa: ANN001
    """`python -m watchdog rotate RESOURCE --plan` prints every step with its date and writes
    nothing; without --plan it starts the rotation and takes exactly its first step (the keys'
    age is unknown here: on demand does not need it)."""
    from watchdog import cli

    settings_for(emulator, monkeypatch, WATCHDOG_SQLITE_PATH=str(tmp_path / "l.sqlite3"),
                 WATCHDOG_ROTATE_GRACE_MINUTES="30", WATCHDOG_SCHEDULE="0 */5 * * * *")
    assert cli.main(["rotate", "notify-prod", "--plan"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if " UTC  " in line]
    assert [line.rsplit(" ", 1)[-1] for line in lines] == ["write-secondary", "regenerate-primary", "write-primary",
                                                           "regenerate-secondary"]
    assert "not started (plan)" in out and f"{VAULT}/secrets/{SECRET}".lower() in out.lower()
    assert not emulator.journal.where(op="keyvault.setSecret") and not emulator.journal.where(op="arm.regenerateKey")

    code = cli.main(["rotate", "notify-prod"])
    out = capsys.readouterr().out
    assert code in (0, 1, 2) and "write-secondary" in out
    assert len(emulator.journal.where(op="keyvault.setSecret")) == 1 and not emulator.journal.where(op="arm.regenerateKey")
    with SqliteLedger(tmp_path / "l.sqlite3") as ledger:
        res = emulator.world.resource_by_name("notify-prod")
        assert ledger.cached("rotate", res.id.lower()).payload["stage"] == "grace-after-secondary"
    assert cli.main(["rotate", "no-such-resource", "--plan"]) == 3


def test_a_key_regenerated_by_someone_else_pauses_it_for_an_operator(env):
    emulator, settings, clients, ledger = env
    sweep(env)
    emulator.regenerate_key("notify-prod", "primary")  # out of band, mid-rotation
    emulator.advance_clock(timedelta(minutes=GRACE + 1))
    report = sweep(env)
    (step,) = [o for o in report.outcomes if o.action.kind == "rotate"]
    assert step.status == "skipped" and step.guard == "key-changed" and "primary key changed" in step.reason
    assert regenerations(emulator) == []
    emulator.advance_clock(timedelta(minutes=5))
    after = sweep(env)
    (f,) = [f for f in after.findings if f.rule == "rotation"]
    assert f.check == "paused" and f.evidence["paused"] == "key-changed" and "rotate RESOURCE" in f.summary
    assert [o for o in after.outcomes if o.action.kind == "rotate"] == [], "not re-tried until an operator restarts it"
    consumers_all_accepted(emulator)  # the apps were on the secondary: the out-of-band change broke no one
