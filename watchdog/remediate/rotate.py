"""Staged key rotation, the executor of watchdog/rotation.py's state machine (kind `rotate`).

Plan (pure): a rotation/due, in-progress or paused finding plans one action: the step of the
record's stage (a new rotation starts at write-secondary). A grace not yet over plans nothing.
Under the resource's lease:
1. re-check: the ledger's record (another sweep may have moved it), the resource (local auth,
   provisioning), listKeys as fingerprints (a key changed by someone else pauses it), the apps
   still holding the key about to change (consumers.holdouts) and REST 401s in the resource logs
   since the stage began (the watchdog's own proofs excluded); `decide()` says step, wait or pause.
2. act: a write step writes the key's connection string into every bound secret (tags
   webpubsub-key and watchdog-key name it), proves it on the data plane and refreshes the apps
   reading them (consumer_refresh); a regeneration step regenerates that one key.
3. verify: the write proven (404), every app resolving the written version; or, after a
   regeneration, listKeys showing that key new and the other unchanged, and the other key (what
   the secrets hold now) still accepted. Then the record moves on, or pauses saying why.
Connection strings live in `Sensitive` between listKeys and set_secret; outcomes and the record
hold versions, fingerprints, stages and times only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watchdog import connstr, tags
from watchdog import rotation as machine
from watchdog.checks import rotation as rules
from watchdog.checks._common import label
from watchdog.checks.registry import remedy
from watchdog.collect import dataplane
from watchdog.collect.key_age import record as stored
from watchdog.config import Setting
from watchdog.consumers import RESOLVED
from watchdog.ledger.base import CacheEntry
from watchdog.models import Action, Finding, Observation, Outcome, OutcomeStatus, Sensitive
from watchdog.remediate import consumer_refresh, guards, secret_sync
from watchdog.remediate._common import WATCHDOG, outcome, skip
from watchdog.remediate.registry import ActContext, PlanContext, Remediation, register
from watchdog.rights import SUBSCRIPTION, Feature
from watchdog.rotation import Decision, Facts, Pause, Rotation, Stage, Step

if TYPE_CHECKING:
    from watchdog.remediate.plan import Plan

DONE, SKIPPED = OutcomeStatus.DONE, OutcomeStatus.SKIPPED
KIND = machine.KIND
SETTING = Setting("WATCHDOG_ROTATE", "off", "Staged key rotation mode: off, plan (show the schedule) or on. On: one step per sweep, each proven (see Rotation).")
SETTINGS = (
    Setting("WATCHDOG_ROTATE_DAYS", "90", "A resource's keys are due for rotation when the last regeneration is older than this many days (tag watchdog-rotate-days overrides; 0: never)."),
    Setting("WATCHDOG_ROTATE_GRACE_MINUTES", "60", "A rotation waits this long after moving every secret and app to the other key, with no REST 401 in the resource logs meanwhile, before regenerating the key they left."),
)
RIGHTS = Feature(
    "rotate", SUBSCRIPTION,
    "Regenerate one access key at a time, after every secret and app moved to the other key (staged rotation).",
    actions=("Microsoft.SignalRService/WebPubSub/regenerateKey/action",), writes=True,
)
WAITING = "waiting"  # the guard of a sweep that found nothing to do yet (not a pause)


def _query(resource_id: str) -> str:
    # REST calls rejected with 401 on this resource, the watchdog's own proofs (hub "watchdog") excluded.
    return ('WebPubSubHttpRequest | where StatusCode == "401" and Url contains "/api/"'
            f' and Url !contains "/api/hubs/{dataplane.PROOF_HUB}/" and _ResourceId =~ "{resource_id}"'
            " | summarize Count = count()")


# --- plan ---------------------------------------------------------------------------------------


def plan(obs: Observation, findings: list[Finding], ctx: PlanContext, out: Plan) -> None:
    f = next((f for f in findings if remedy(f) == KIND), None)
    if f is None or obs.rotation is None:
        return
    res, record = obs.resource, obs.rotation.record
    running = record is not None and record.active
    stage = record.stage if running and record else Stage.TO_SECONDARY
    grace = timedelta(minutes=ctx.settings.rotate_grace_minutes)
    if running and record and stage in machine.GRACES and ctx.now < record.stage_since + grace \
            and f.check != rules.PAUSED.id:
        return  # waiting out the grace: the in-progress finding says until when
    if running and record and record.paused == Pause.KEY_CHANGED:
        return  # an operator must look (the paused finding says so); re-checking each sweep would change nothing
    step, which = machine.step_of(stage) or (Step.WRITE_SECONDARY, "secondary")
    when = machine.schedule(record if running and record else machine.start(res.id, ctx.now), grace,
                            sweep_every(ctx.settings.schedule), ctx.now)
    action = Action(KIND, res.id, str(step), f"{f.summary}: {step} ({which} key)",
                    params={"stage": str(stage), "step": str(step), "start": not running,
                            "schedule": [f"{s} {t:%Y-%m-%d %H:%M}" for s, t in when]},
                    finding=f.fingerprint)
    if res.disable_local_auth:
        skip(out, action, guards.LOCAL_AUTH, f"{label(res)} has local auth disabled: no access keys to rotate")
    elif res.provisioning_state.lower() != "succeeded":
        skip(out, action, guards.PROVISIONING, f"{label(res)} is {res.provisioning_state}, not Succeeded")
    elif not obs.secrets:
        skip(out, action, guards.NO_SECRET, f"{label(res)} has no bound secret to move between keys")
    else:
        out.actions.append(action)


def sweep_every(schedule: str) -> timedelta:
    """The timer's period from its NCRONTAB (`0 */5 * * * *` -> 5 minutes); an hour when unclear."""
    fields = schedule.split()
    minute = fields[1] if len(fields) == 6 else ""
    if m := re.fullmatch(r"\*/(\d+)", minute):
        return timedelta(minutes=int(m[1]))
    return timedelta(minutes=1) if minute == "*" else timedelta(hours=1)


# --- re-check -> act -> verify ------------------------------------------------------------------


@dataclass
class _State:
    record: Rotation
    mgmt: Any
    keys: tuple[str, str]
    step: Step


def recheck(action: Action, obs: Observation, ctx: ActContext) -> Outcome | _State:
    res, now = obs.resource, ctx.now
    record = stored(ctx.ledger, res.id)
    if action.params["start"]:
        if record is not None and record.active:
            return outcome(action, SKIPPED, "another sweep started this rotation", now, guard=guards.CHANGED)
        record = machine.start(res.id, now)
    elif record is None or str(record.stage) != action.params["stage"]:
        return outcome(action, SKIPPED, "the rotation moved on since collection", now, guard=guards.CHANGED)
    mgmt = ctx.clients.webpubsub(res.subscription_id).web_pub_sub
    fresh = mgmt.get(res.resource_group, res.name)
    if fresh.disable_local_auth or (fresh.provisioning_state or "Succeeded") != "Succeeded":
        return outcome(action, SKIPPED, f"{res.name} has local auth disabled or is {fresh.provisioning_state} now",
                       now, guard=guards.PROVISIONING)
    keys = _fingerprints(mgmt, res)
    grace = timedelta(minutes=ctx.settings.rotate_grace_minutes)
    waits = record.stage in machine.GRACES
    facts = Facts(now, keys, machine.holdouts_of(obs.consumers, record.written) if waits else (),
                  _unauthorized(ctx, obs, record.stage_since) if waits else 0)
    decision = machine.decide(record, facts, grace)
    if decision.act is None or keys is None:
        return _stopped(action, ctx, record, decision)
    return _State(record, mgmt, keys, decision.act)


def act(action: Action, obs: Observation, ctx: ActContext, state: _State) -> tuple[_State, Rotation, str, bool]:
    """The step, with the proof its kind has: the written value on the data plane and the apps
    resolving it, or listKeys and the other key after a regeneration."""
    which = machine.step_of(state.record.stage)[1]  # type: ignore[index]
    if state.step in (Step.WRITE_SECONDARY, Step.WRITE_PRIMARY):
        return (state, *_write(obs, ctx, state, which))
    return (state, *_regenerate(obs, ctx, state, which))


def verify(action: Action, obs: Observation, ctx: ActContext, acted: tuple[_State, Rotation, str, bool]) -> Outcome:
    state, record, proof, ok = acted
    _save(ctx, record)
    before = {"stage": str(state.record.stage), "keys": list(state.keys)}
    after = {"stage": str(record.stage), "keys": list(record.keys or ()), "versions": dict(record.written)}
    reason = (f"{state.step} proven; rotation now at stage {record.stage}, next {record.waiting}" if ok else
              f"{state.step} not proven: rotation paused at stage {record.stage} ({record.paused}), waits for "
              f"{record.waiting}")
    return outcome(action, DONE, reason, ctx.now, before=before, after=after, verified=ok, proof=proof)


def _write(obs: Observation, ctx: ActContext, state: _State, which: str) -> tuple[Rotation, str, bool]:
    res, record = obs.resource, state.record
    keys = state.mgmt.list_keys(res.resource_group, res.name)
    value = Sensitive((keys.primary_connection_string if which == "primary" else keys.secondary_connection_string)
                      or "")
    del keys
    parsed = connstr.parse(value.reveal())
    written: dict[str, str] = {}
    current = {s.uri.lower(): s.version for s in obs.secrets}
    if record.paused == Pause.HOLDOUT and record.written and all(current.get(u) == v for u, v in record.written.items()):
        written = dict(record.written)  # written and proven last sweep, untouched since: only the apps are re-checked
    for secret in obs.secrets:
        if not secret.enabled or secret.uri.lower() in written:
            continue
        client = ctx.clients.secrets(secret.vault_url)
        latest = client.get_secret(secret.name).properties
        new = client.set_secret(secret.name, value.reveal(), content_type=latest.content_type, tags={
            **(latest.tags or {}), tags.KEY: which, tags.WRITTEN_BY: WATCHDOG, tags.WRITTEN_KEY: which}).properties
        written[secret.uri.lower()] = new.version
    del value
    proof = dataplane.prove(ctx.clients.dataplane, parsed)
    text = f"{len(written)} secret(s) written with the {which} key; data plane {proof.status} ({proof.outcome})"
    if proof.outcome != "accepted":
        return machine.failed(record, Pause.PROOF_FAILED, f"the {which} connection string to be accepted on the "
                              f"data plane (it answered {proof.status})"), text, False
    consumers = list(obs.consumers or ())
    for target in consumer_refresh.targets(obs, [], written):
        expect = written[target.params["secret_uri"].lower()]
        done = consumer_refresh.execute(target, ctx.clients, ctx.settings.consumer_restart, ctx.now, expect)
        text += f"; {target.params['site']}: {done.reason}"
        if done.verified or done.guard == consumer_refresh.G_CURRENT:
            consumers = [replace(c, status=RESOLVED, active_version=expect) if c.site_id == target.subject
                         and c.secret_uri.lower() == target.params["secret_uri"].lower() else c for c in consumers]
    held = machine.holdouts_of(consumers if obs.consumers is not None else None, written)
    if held:
        return replace(machine.failed(record, Pause.HOLDOUT, "; ".join(held)), keys=state.keys, written=written), \
            text, False
    return machine.stepped(record, ctx.now, state.keys, written), text, True


def _regenerate(obs: Observation, ctx: ActContext, state: _State, which: str) -> tuple[Rotation, str, bool]:
    from azure.mgmt.webpubsub.models import RegenerateKeyParameters

    res, record = obs.resource, state.record
    state.mgmt.begin_regenerate_key(res.resource_group, res.name, RegenerateKeyParameters(
        key_type=which.capitalize())).result(timeout=ctx.settings.operation_timeout_seconds)
    keys = state.mgmt.list_keys(res.resource_group, res.name)
    other = Sensitive((keys.secondary_connection_string if which == "primary" else keys.primary_connection_string)
                      or "")
    now_fps = (Sensitive(keys.primary_key or "").fingerprint(), Sensitive(keys.secondary_key or "").fingerprint())
    del keys
    proof = dataplane.prove(ctx.clients.dataplane, connstr.parse(other.reveal()))
    i = 0 if which == "primary" else 1
    moved, kept = now_fps[i] != state.keys[i], now_fps[1 - i] == state.keys[1 - i]
    text = (f"listKeys after regenerateKey({which}): {which} {'new' if moved else 'unchanged'}, the other "
            f"{'unchanged' if kept else 'changed'}; the key the secrets hold: data plane {proof.status} ({proof.outcome})")
    if not (moved and kept):  # the record keeps the keys it expected: the next sweeps see the change and stay paused
        return machine.failed(record, Pause.KEY_CHANGED,
                              "an operator: the keys are not what the regeneration should have left"), text, False
    moved_on = machine.stepped(record, ctx.now, now_fps)
    if proof.outcome != "accepted":  # regenerated all the same: the next write step is the remedy, and re-proves
        return machine.failed(moved_on, Pause.PROOF_FAILED, f"the key the secrets hold to be accepted on the data "
                              f"plane (it answered {proof.status}); next {moved_on.waiting}"), text, False
    return moved_on, text, True


def _stopped(action: Action, ctx: ActContext, record: Rotation, decision: Decision) -> Outcome:
    if action.params["start"] and not decision.pause:
        return outcome(action, SKIPPED, f"not started: {decision.waiting}", ctx.now, guard=WAITING)
    _save(ctx, machine.paused(record, decision))
    verb = f"paused ({decision.pause})" if decision.pause else "waiting"
    return outcome(action, SKIPPED, f"rotation at stage {record.stage} {verb}: waits for {decision.waiting}",
                   ctx.now, guard=decision.pause or WAITING, before={"stage": str(record.stage)})


def _fingerprints(mgmt: Any, res: Any) -> tuple[str, str] | None:
    try:
        keys = mgmt.list_keys(res.resource_group, res.name)
    except Exception:  # noqa: BLE001 - unreadable keys pause the rotation (KEYS_UNREADABLE)
        return None
    return Sensitive(keys.primary_key or "").fingerprint(), Sensitive(keys.secondary_key or "").fingerprint()


def _unauthorized(ctx: ActContext, obs: Observation, since: datetime) -> int | None:
    """REST 401s on the resource since `since`, proofs excluded; None when no log can tell."""
    workspaces = obs.diagnostics.workspace_ids if obs.diagnostics else ()
    if not workspaces:
        return None
    total = 0
    try:
        for ws in workspaces:
            result = ctx.clients.logs().query_resource(ws, _query(obs.resource.id), timespan=(since, ctx.now))
            tables = getattr(result, "tables", None)
            if tables is None:  # a partial result proves nothing
                return None
            total += sum(int(row[0] or 0) for t in tables for row in t.rows)
    except Exception:  # noqa: BLE001 - unreadable logs pause the rotation (LOGS_UNREADABLE)
        return None
    return total


def _save(ctx: ActContext, record: Rotation) -> None:
    ctx.ledger.put_cached(CacheEntry(KIND, record.resource_id.lower(), record.to_payload(), ctx.now))


def begin(ledger: Any, resource_id: str, now: datetime) -> Rotation:
    """`python -m watchdog rotate RESOURCE`: a new rotation record, unless one is under way
    (a paused one included: it resumes where it stopped)."""
    record = stored(ledger, resource_id)
    if record is not None and record.active and record.paused != Pause.KEY_CHANGED:
        return record
    record = machine.start(resource_id, now)
    ledger.put_cached(CacheEntry(KIND, resource_id.lower(), record.to_payload(), now))
    return record


register(Remediation(KIND, SETTING, "rotate", 2, (RIGHTS, secret_sync.RIGHTS, *consumer_refresh.RIGHTS),
                     plan, recheck, act, verify))
