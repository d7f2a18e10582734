"""Remediation end to end: the real SDKs against the emulator's demo, a real SQLite ledger.

Asserted from the emulator's request journal (what Azure would have seen) and its world (what
Azure would now hold). Observations are collected through the SDKs right before the remediation
stage runs, so a test can change the world in between: that is how "changed since collection"
guards are exercised.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from emulator.world import AutoscaleSetting
from watchdog import connstr, tags
from watchdog.azure import AzureClients
from watchdog.checks import diagnose
from watchdog.collect import autoscale, dataplane, inventory, keys
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.models import BoundSecret, MetricPoint, Observation, ResourceMetrics
from watchdog.remediate import remediate
from watchdog.remediate.scale import sku_patch
from watchdog.settings import Settings

pytestmark = pytest.mark.integration

VAULT = "kv-demo-contoso"
SECRET = "chat-prod-connection"
ALL = ("secret-sync", "scale", "scale-in")


def modes(value: str, **overrides: str) -> dict[str, str]:
    return {**{k: value for k in ALL}, **{k.replace("_", "-"): v for k, v in overrides.items()}}


@pytest.fixture
def env(emulator, tmp_path):
    settings = Settings.from_env({**emulator.env, "WATCHDOG_KEY_VAULTS": f"https://{VAULT}.vault.azure.net",
                                  "WATCHDOG_LEDGER": "sqlite", "WATCHDOG_OPERATION_TIMEOUT_SECONDS": "30"})
    clients = AzureClients(settings)
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    yield emulator, settings, clients, ledger
    ledger.close()
    clients.close()


def world_res(emulator, name: str):
    return emulator.world.resource_by_name(name)


def observe(emulator, clients: AzureClients, name: str) -> Observation:
    """What the sweep's collectors gather for one resource, through the same SDK calls."""
    now = datetime.now(timezone.utc)
    wres = world_res(emulator, name)
    mgmt = clients.webpubsub(wres.subscription_id)
    res = inventory.to_resource(wres.subscription_id, mgmt.web_pub_sub.get(wres.resource_group, name))
    bound = []
    for uri in filter(None, (u.strip() for u in res.tags.get(tags.SECRETS, "").split(","))):
        vault_url, secret_name = uri.split("/secrets/")
        got = clients.secrets(vault_url).get_secret(secret_name)
        cs = connstr.parse(got.value)
        bound.append(BoundSecret(
            uri=uri, vault_url=vault_url, name=secret_name, version=got.properties.version,
            enabled=got.properties.enabled, expires_on=got.properties.expires_on,
            content_type=got.properties.content_type, tags=got.properties.tags or {},
            endpoint_host=cs.host, key_fingerprint=cs.access_key.fingerprint(),
            proof=dataplane.prove(clients.dataplane, cs)))
    peak = wres.metric("TotalConnectionCount", 0)
    metrics = ResourceMetrics(series={"TotalConnectionCount:Maximum": tuple(
        MetricPoint(now - timedelta(minutes=m), peak) for m in range(30, 0, -1))})
    managing = autoscale.list_in_subscription(clients.monitor(res.subscription_id))
    return Observation(
        resource=res, secrets=tuple(bound), metrics=metrics, autoscale=managing.get(res.id.lower(), ()),
        keys=None if res.disable_local_auth else keys.list_keys(mgmt, res, now), collected_at=now)


def act(env, obs: Observation, mode: dict[str, str]):
    emulator, settings, clients, ledger = env
    emulator.journal.clear()  # only the remediation stage's calls from here on
    now = datetime.now(timezone.utc)
    findings = diagnose([obs], [], settings, now)
    return remediate([obs], findings, settings, mode, clients, ledger, now)


def ops(emulator, op: str) -> list:
    return emulator.journal.where(op=op)


def only(outcomes, kind: str):
    picked = [o for o in outcomes if o.action.kind == kind]
    assert len(picked) == 1, outcomes
    return picked[0]


# --- the two fixes -----------------------------------------------------------------------------

def test_demo_drifted_secret_is_rewritten_once_verified_and_then_healthy(env, caplog):
    emulator, settings, clients, ledger = env
    obs = observe(emulator, clients, "chat-prod")
    caplog.set_level(logging.DEBUG)
    outcomes = act(env, obs, modes("off", secret_sync="on"))

    result = only(outcomes, "secret-sync")
    assert result.status == "done" and result.verified is True, result
    assert "404" in result.proof
    assert len(ops(emulator, "keyvault.setSecret")) == 1
    assert len(ops(emulator, "arm.listKeys")) == 1
    assert [e.op for e in emulator.journal.writes()] == ["arm.listKeys", "keyvault.setSecret"]

    chat = world_res(emulator, "chat-prod")
    latest = emulator.world.vaults[VAULT].latest(SECRET)
    assert latest.value == chat.connection_string("primary")
    assert latest.content_type == "text/plain"
    assert latest.tags == {"owner": "chat-team", tags.WRITTEN_BY: "webpubsub-watchdog", tags.WRITTEN_KEY: "primary"}
    assert result.after["version"] == latest.version

    [entry] = ledger.actions(chat.id)
    assert (entry.kind, entry.status, entry.verified) == ("secret-sync", "done", True)
    stored = json.dumps([entry.before, entry.after, entry.reason, entry.proof])
    assert chat.key("primary") not in stored and "AccessKey" not in stored
    assert "chat-prod-connection" in caplog.text  # the SDKs did log the calls
    assert chat.key("primary") not in caplog.text and chat.key("primary") not in repr(outcomes)

    again = observe(emulator, clients, "chat-prod")
    assert not [f for f in diagnose([again], [], settings, datetime.now(timezone.utc)) if f.rule == "key-drift"]


def test_demo_resource_at_92_percent_scales_to_3_units_and_then_healthy(env):
    emulator, settings, clients, ledger = env
    outcomes = act(env, observe(emulator, clients, "chat-prod"), modes("off", scale="on"))

    result = only(outcomes, "scale")
    assert result.status == "done" and result.verified is True, result
    assert result.action.params == {"sku": "Standard_S1", "from": 2, "to": 3}
    assert result.after["units"] == 3 and "3 unit(s)" in result.proof
    assert [e.op for e in emulator.journal.writes()] == ["arm.update"]
    assert world_res(emulator, "chat-prod").capacity == 3
    assert ledger.last_scaled(world_res(emulator, "chat-prod").id) is not None

    again = observe(emulator, clients, "chat-prod")
    assert not [f for f in diagnose([again], [], settings, datetime.now(timezone.utc)) if f.rule == "capacity"]


def test_plan_mode_writes_nothing(env):
    emulator, *_ = env
    obs = observe(emulator, env[2], "chat-prod")
    outcomes = act(env, obs, modes("plan"))
    assert {(o.action.kind, o.status) for o in outcomes} == {("secret-sync", "planned"), ("scale", "planned")}
    assert only(outcomes, "scale").action.params["to"] == 3
    assert emulator.journal.writes() == []
    assert env[3].actions() == []


def test_off_does_nothing(env):
    emulator, *_ = env
    assert act(env, observe(emulator, env[2], "chat-prod"), modes("off")) == []
    assert len(emulator.journal) == 0


def test_the_patch_carries_only_location_and_sku():
    from azure.mgmt.webpubsub import models
    from azure.mgmt.webpubsub._serialization import Serializer  # what the client serializes bodies with

    serializer = Serializer({k: v for k, v in vars(models).items() if isinstance(v, type)})
    body = serializer.body(sku_patch("eastus", "Standard_S1", 3), "WebPubSubResource")
    assert body == {"location": "eastus", "sku": {"name": "Standard_S1", "capacity": 3}}


# --- guards seen by the plan -------------------------------------------------------------------

def add_autoscale(emulator, name: str) -> None:
    res = world_res(emulator, name)
    with emulator.world.lock:
        emulator.world.autoscale.append(AutoscaleSetting(f"{name}-autoscale", res.subscription_id, res.resource_group,
                                                         res.location, res.id))


def assert_skipped(outcomes, kind: str, guard: str, *words: str):
    result = only(outcomes, kind)
    assert (result.status, result.guard) == ("skipped", guard), result
    for word in words:
        assert word in result.reason
    return result


def test_autoscale_present_prevents_scaling(env):
    emulator, *_ = env
    add_autoscale(emulator, "chat-prod")
    outcomes = act(env, observe(emulator, env[2], "chat-prod"), modes("off", scale="on"))
    assert_skipped(outcomes, "scale", "autoscale", "chat-prod-autoscale")
    assert emulator.journal.writes() == []


def test_cooldown_prevents_scaling(env):
    emulator, _, clients, ledger = env
    ledger.set_last_scaled(world_res(emulator, "chat-prod").id, datetime.now(timezone.utc) - timedelta(minutes=5))
    outcomes = act(env, observe(emulator, clients, "chat-prod"), modes("off", scale="on"))
    assert_skipped(outcomes, "scale", "cooldown", "cooldown of 30 min")
    assert emulator.journal.writes() == []


def test_budget_cap_prevents_scaling(env):
    emulator, *_ = env
    with emulator.world.lock:
        world_res(emulator, "chat-prod").tags[tags.MAX_UNITS] = "2"
    outcomes = act(env, observe(emulator, env[2], "chat-prod"), modes("off", scale="on"))
    assert_skipped(outcomes, "scale", "budget", "budget of 2")
    assert emulator.journal.writes() == []


def test_free_tier_gets_upgrade_guidance_not_a_scale(env):
    emulator, *_ = env
    outcomes = act(env, observe(emulator, env[2], "free-dev"), modes("on"))
    assert_skipped(outcomes, "scale", "free-tier", "Standard_S1", "public IP")
    assert emulator.journal.writes() == []


def test_provisioning_prevents_both_actions(env):
    emulator, *_ = env
    with emulator.world.lock:
        world_res(emulator, "chat-prod").provisioning_state = "Updating"
    outcomes = act(env, observe(emulator, env[2], "chat-prod"), modes("on"))
    assert_skipped(outcomes, "scale", "provisioning", "Updating")
    assert_skipped(outcomes, "secret-sync", "provisioning", "Updating")
    assert emulator.journal.writes() == []


def test_local_auth_disabled_prevents_secret_sync(env):
    emulator, *_ = env
    with emulator.world.lock:
        world_res(emulator, "chat-prod").disable_local_auth = True
    outcomes = act(env, observe(emulator, env[2], "chat-prod"), modes("off", secret_sync="on"))
    assert_skipped(outcomes, "secret-sync", "local-auth-disabled", "local auth disabled")
    assert emulator.journal.writes() == []


def test_concurrent_sweep_holding_the_lease_prevents_acting(env):
    emulator, _, clients, ledger = env
    chat = world_res(emulator, "chat-prod")
    assert ledger.acquire_lease(chat.id, "the-timer-sweep", 600, datetime.now(timezone.utc))
    outcomes = act(env, observe(emulator, clients, "chat-prod"), modes("on"))
    assert_skipped(outcomes, "secret-sync", "lease", "another sweep")
    assert_skipped(outcomes, "scale", "lease", "another sweep")
    assert emulator.journal.writes() == []
    assert emulator.world.vaults[VAULT].latest(SECRET).tags == {"owner": "chat-team"}


# --- guards re-checked right before acting (the world changed after collection) -----------------

def test_secret_changed_since_collection_is_not_overwritten(env):
    emulator, _, clients, ledger = env
    obs = observe(emulator, clients, "chat-prod")
    chat = world_res(emulator, "chat-prod")
    theirs = emulator.world.vaults[VAULT].set_secret(SECRET, chat.connection_string("secondary"),
                                                     content_type="text/plain", tags={"owner": "chat-team"})
    outcomes = act(env, obs, modes("off", secret_sync="on"))
    assert_skipped(outcomes, "secret-sync", "secret-changed", "changed since collection", theirs.version)
    assert ops(emulator, "keyvault.setSecret") == []
    assert ops(emulator, "arm.listKeys") == []  # the abort spent no ARM write budget
    assert emulator.world.vaults[VAULT].latest(SECRET) is theirs
    [entry] = ledger.actions(chat.id)
    assert (entry.status, entry.verified) == ("skipped", None)


def test_local_auth_disabled_after_collection_stops_before_list_keys(env):
    emulator, _, clients, _ = env
    obs = observe(emulator, clients, "chat-prod")
    with emulator.world.lock:
        world_res(emulator, "chat-prod").disable_local_auth = True
    outcomes = act(env, obs, modes("off", secret_sync="on"))
    assert_skipped(outcomes, "secret-sync", "local-auth-disabled")
    assert emulator.journal.writes() == []


def test_autoscale_that_appears_after_collection_stops_the_scale(env):
    emulator, _, clients, ledger = env
    obs = observe(emulator, clients, "chat-prod")
    add_autoscale(emulator, "chat-prod")
    outcomes = act(env, obs, modes("off", scale="on"))
    assert_skipped(outcomes, "scale", "autoscale", "chat-prod-autoscale")
    assert emulator.journal.writes() == []
    assert ledger.last_scaled(world_res(emulator, "chat-prod").id) is None


def test_capacity_changed_since_collection_stops_the_scale(env):
    emulator, _, clients, _ = env
    obs = observe(emulator, clients, "chat-prod")
    emulator.set_capacity("chat-prod", 4)
    outcomes = act(env, obs, modes("off", scale="on"))
    assert_skipped(outcomes, "scale", "changed", "4 unit(s)")
    assert emulator.journal.writes() == []


def test_stale_observation_of_provisioning_is_caught_fresh(env):
    emulator, _, clients, _ = env
    obs = observe(emulator, clients, "chat-prod")
    with emulator.world.lock:
        world_res(emulator, "chat-prod").provisioning_state = "Updating"
    outcomes = act(env, replace(obs, secrets=()), modes("off", scale="on"))
    assert_skipped(outcomes, "scale", "provisioning", "Updating")
    assert emulator.journal.writes() == []


# --- through run_sweep: the stage as every trigger runs it ---------------------------------------

def sweep(env, mode: dict[str, str]):
    from watchdog.sweep import run_sweep

    emulator, settings, clients, ledger = env
    emulator.journal.clear()
    return run_sweep(settings, mode=mode, clients=clients, ledger=ledger)


def chat_findings(report, rule: str) -> list:
    return [f for f in report.findings if f.rule == rule and f.resource_id.endswith("/chat-prod")]


def test_sweep_fixes_the_demo_and_the_next_sweep_finds_it_healthy(env):
    emulator, *_ = env
    first = sweep(env, modes("on", scale_in="off"))
    done = {o.action.kind: o for o in first.outcomes if o.status == "done"}
    assert set(done) == {"secret-sync", "scale"}, first.outcomes
    assert done["secret-sync"].verified and done["scale"].verified
    assert done["scale"].action.params["to"] == 3
    assert len(ops(emulator, "keyvault.setSecret")) == 1 and len(ops(emulator, "arm.update")) == 1
    assert_skipped([o for o in first.outcomes if o.action.resource_id.endswith("/free-dev")], "scale", "free-tier")

    second = sweep(env, modes("on", scale_in="off"))
    assert chat_findings(second, "key-drift") == [] and chat_findings(second, "capacity") == []
    assert not [o for o in second.outcomes if o.action.resource_id.endswith("/chat-prod")]
    assert ops(emulator, "keyvault.setSecret") == [] and ops(emulator, "arm.update") == []


def test_plan_sweep_adds_no_write_to_what_collection_spends(env):
    emulator, *_ = env
    sweep(env, modes("off"))  # the first sweep lists every bound resource's keys; compare steady states
    sweep(env, modes("off"))
    collecting = [e.op for e in emulator.journal.writes()]
    assert set(collecting) <= {"arm.listKeys"}  # change-driven key checks: collection's only write
    report = sweep(env, modes("plan"))
    assert [e.op for e in emulator.journal.writes()] == collecting
    planned_ = {(o.action.kind, o.status) for o in report.outcomes if o.action.resource_id.endswith("/chat-prod")}
    assert planned_ == {("secret-sync", "planned"), ("scale", "planned")}


def test_the_lease_is_taken_at_action_time_with_its_own_expiry(env, monkeypatch):
    # A sweep whose collection took an hour: a lease dated from its start would be born expired.
    emulator, settings, clients, ledger = env
    taken: list[datetime] = []
    real = ledger.acquire_lease

    def acquire(resource_id, owner, ttl, now):  # noqa: ANN001, ANN202
        taken.append(now)
        return real(resource_id, owner, ttl, now)

    monkeypatch.setattr(ledger, "acquire_lease", acquire)
    obs = observe(emulator, clients, "chat-prod")
    started = datetime.now(timezone.utc) - timedelta(hours=1)
    before = datetime.now(timezone.utc)
    remediate([obs], diagnose([obs], [], settings, started), settings, modes("on"), clients, ledger, started)
    assert taken and all(t >= before for t in taken)


def test_a_scale_still_running_at_the_budget_is_recorded_in_progress_and_verified_next_sweep(env):
    emulator, settings, clients, ledger = env
    emulator.faults.add(service="arm", operation="update", lro_seconds=3)
    obs = observe(emulator, clients, "chat-prod")
    now = datetime.now(timezone.utc)
    findings = diagnose([obs], [], settings, now)
    import time

    outcomes = remediate([obs], findings, settings, modes("off", scale="on"), clients, ledger, now,
                         deadline=time.monotonic() + 0.5)
    scale = only(outcomes, "scale")
    assert scale.status == "in-progress" and scale.verified is None, scale
    (entry,) = [e for e in ledger.actions() if e.kind == "scale"]
    assert entry.status == "in-progress"
    deadline = time.monotonic() + 20
    while emulator.world.resource_by_name("chat-prod").provisioning_state != "Succeeded":
        assert time.monotonic() < deadline, "the emulator's slow LRO never finished"
        time.sleep(0.2)
    remediate([obs], [], settings, modes("off", scale="on"), clients, ledger, datetime.now(timezone.utc))
    (entry,) = [e for e in ledger.actions() if e.kind == "scale"]
    assert (entry.status, entry.verified) == ("done", True) and "next sweep" in entry.proof
