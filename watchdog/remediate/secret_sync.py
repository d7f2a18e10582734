"""Secret sync: write the resource's current connection string into a drifted Key Vault secret.

Plan (pure): every key-drift finding whose check declares this remedy, unless a guard says no.
Re-check -> act -> verify, for one planned action, with the resource's lease already held:
1. re-check: GET the resource (never write for one with local auth disabled: its keys are
   deleted) and re-read the secret's latest version: if anyone wrote one since collection, that
   write wins and we stop (checked before listKeys, so an abort spends no ARM write budget).
2. act: listKeys now (the value written is always one just read from the resource, never a
   remembered one), re-read the secret right before writing (Key Vault has no compare-and-set),
   set_secret with the same content type and tags, plus watchdog-written-by and watchdog-key.
3. verify: prove the new value with an authenticated data-plane call (404 = accepted, 401 = rejected).
The connection string lives in a `Sensitive` from listKeys to set_secret and is never logged,
put in an Outcome, or raised in an exception text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchdog import connstr, tags
from watchdog.checks import key_drift
from watchdog.checks._common import label
from watchdog.checks.registry import remedy
from watchdog.collect import dataplane
from watchdog.config import Setting
from watchdog.connstr import HostKind, classify_host
from watchdog.models import (
    Action, BoundSecret, DataPlaneProof, Finding, Observation, Outcome, OutcomeStatus, SecretSyncParams, Sensitive,
)
from watchdog.remediate import guards
from watchdog.remediate._common import WATCHDOG, outcome, skip
from watchdog.remediate.registry import ActContext, PlanContext, Remediation, register
from watchdog.rights import KEY_VAULT, Feature

if TYPE_CHECKING:
    from watchdog.remediate.plan import Plan

DONE, FAILED, SKIPPED = OutcomeStatus.DONE, OutcomeStatus.FAILED, OutcomeStatus.SKIPPED
KIND = key_drift.SECRET_SYNC
SETTING = Setting("WATCHDOG_SECRET_SYNC", "plan", "Secret sync mode: off, plan (dry run) or on.")
RIGHTS = Feature(
    "secret-sync", KEY_VAULT,
    "Write a new secret version holding the current connection string (remediation of key drift).",
    data_actions=("Microsoft.KeyVault/vaults/secrets/setSecret/action",), writes=True,
)


# --- plan -------------------------------------------------------------------------------------


def plan(obs: Observation, findings: list[Finding], ctx: PlanContext, out: Plan) -> None:
    by_uri = {s.uri.lower(): s for s in obs.secrets}
    for f in findings:
        secret = by_uri.get(f.subject.lower()) if remedy(f) == KIND else None
        if secret is not None and _may_write(obs, secret, f, ctx.settings.key_vaults, out):
            _candidate(obs, secret, f, out)


def _may_write(obs: Observation, secret: BoundSecret, f: Finding, key_vaults: tuple[str, ...], out: Plan) -> bool:
    """Whatever a tag says, write only a secret no other resource claims, in an allowed vault."""
    if secret.claimed_by:
        skip(out, _action(obs, secret, f, "primary"), guards.CONFLICT,
             f"secret {secret.name} is also claimed by {', '.join(secret.claimed_by)}: writing it would overwrite "
             "another resource's connection string; remove one binding first")
        return False
    if secret.vault_url.lower() not in {v.lower().rstrip("/") for v in key_vaults}:
        skip(out, _action(obs, secret, f, "primary"), guards.VAULT_NOT_ALLOWED,
             f"{secret.vault_url} is not in WATCHDOG_KEY_VAULTS: the watchdog writes only to the vaults it was given")
        return False
    return True


def _candidate(obs: Observation, secret: BoundSecret, f: Finding, out: Plan) -> None:
    res = obs.resource
    if res.disable_local_auth:  # key-drift then reports only local-auth-disabled
        skip(out, _action(obs, secret, f, "primary"), guards.LOCAL_AUTH,
             f"{label(res)} has local auth disabled: access keys do not work, so there is no key to "
             "write; move the apps to Microsoft Entra ID and retire this secret")
        return
    which = secret.tags.get(tags.KEY, "primary").strip().lower()
    action = _action(obs, secret, f, which if which in ("primary", "secondary") else "primary")
    host = secret.endpoint_host or res.host_name
    foreign = host.lower() != res.host_name.lower() and classify_host(host, res.host_name)
    if which not in ("primary", "secondary"):
        skip(out, action, guards.KEY_TAG, f"secret tag {tags.KEY}={secret.tags.get(tags.KEY)!r} is neither primary "
                                          "nor secondary: which key to write is unclear")
    elif res.provisioning_state.lower() != "succeeded":
        skip(out, action, guards.PROVISIONING,
             f"{label(res)} is {res.provisioning_state}, not Succeeded: its keys may be about to change")
    elif not secret.enabled:
        skip(out, action, guards.SECRET_DISABLED,
             f"secret {secret.name} is disabled in Key Vault: someone took it out of service on purpose")
    elif foreign and foreign is not HostKind.OTHER_WEBPUBSUB:
        # Another product's connection string means the binding is wrong, not the value: writing
        # ours would break whichever app really reads this secret.
        skip(out, action, guards.FOREIGN,
             f"secret {secret.name} holds a {foreign.value} connection string, not a Web PubSub "
             f"one: fix the binding (tag {tags.RESOURCE_ID} / {tags.SECRETS}) instead")
    elif not foreign and key_drift.accepted(secret):
        skip(out, action, guards.PROOF_ACCEPTED,
             "the service accepted the stored key although it matched neither listed key: keys probably "
             "changed during the sweep; the next sweep re-reads them")
    else:
        out.actions.append(action)


def _action(obs: Observation, secret: BoundSecret, f: Finding, which: str) -> Action:
    return Action(
        kind=KIND, resource_id=obs.resource.id, subject=secret.uri,
        reason=f"{f.summary}: write the {which} connection string of {label(obs.resource)} as a new version",
        params=SecretSyncParams(key=which, vault_url=secret.vault_url, name=secret.name, version=secret.version),
        finding=f.fingerprint,
    )


# --- re-check -> act -> verify ----------------------------------------------------------------


@dataclass
class _State:
    before: dict[str, Any]
    mgmt: Any = None
    client: Any = None
    parsed: connstr.ConnectionString | None = None
    after: dict[str, Any] | None = None
    version: str | None = None


def recheck(action: Action, obs: Observation, ctx: ActContext) -> Outcome | _State:
    res, now = obs.resource, ctx.now
    state = _State(before={"version": action.params["version"],
                           "key_fingerprint": _collected_fingerprint(obs, action.subject)})
    state.mgmt = ctx.clients.webpubsub(res.subscription_id).web_pub_sub
    fresh = state.mgmt.get(res.resource_group, res.name)
    if fresh.disable_local_auth:
        return outcome(action, SKIPPED, f"{res.name} has local auth disabled now: no key to write", now,
                       guard=guards.LOCAL_AUTH, before=state.before)
    if (fresh.provisioning_state or "Succeeded") != "Succeeded":
        return outcome(action, SKIPPED, f"{res.name} is {fresh.provisioning_state} now, not Succeeded", now,
                       guard=guards.PROVISIONING, before=state.before)
    state.client = ctx.clients.secrets(action.params["vault_url"])
    if (version := state.client.get_secret(action.params["name"]).properties.version) != action.params["version"]:
        return _changed(action, version, state.before, ctx)
    return state


def act(action: Action, obs: Observation, ctx: ActContext, state: _State) -> Outcome | _State:
    res, which, name = obs.resource, action.params["key"], action.params["name"]
    keys = state.mgmt.list_keys(res.resource_group, res.name)
    value = Sensitive((keys.primary_connection_string if which == "primary" else keys.secondary_connection_string)
                      or "")
    del keys  # nothing else from listKeys is needed; keep the other key's value out of reach
    parsed = connstr.parse(value.reveal())  # ValueError texts name properties, never values
    if parsed.host != res.host_name.lower():
        return outcome(action, FAILED, f"listKeys returned an endpoint for {parsed.host}, not {res.host_name}",
                       ctx.now, before=state.before)
    # Key Vault has no compare-and-set: re-read right before writing, to keep the window small.
    latest = state.client.get_secret(name).properties
    if latest.version != action.params["version"]:
        return _changed(action, latest.version, state.before, ctx)
    written = state.client.set_secret(
        name, value.reveal(), content_type=latest.content_type,
        tags={**(latest.tags or {}), tags.WRITTEN_BY: WATCHDOG, tags.WRITTEN_KEY: which},
    ).properties
    state.parsed, state.version = parsed, written.version
    state.after = {"version": written.version, "key": which, "key_fingerprint": parsed.access_key.fingerprint()}
    return state


def verify(action: Action, obs: Observation, ctx: ActContext, state: _State) -> Outcome:
    proof = dataplane.prove(ctx.clients.dataplane, state.parsed)
    verified = proof.outcome == "accepted"
    which = action.params["key"]
    reason = (f"wrote the {which} connection string as version {state.version}; "
              + ("the service accepts it" if verified else f"but the proof did not pass ({proof.outcome})"))
    return outcome(action, DONE, reason, ctx.now, before=state.before, after=state.after, verified=verified,
                   proof=_proof_text(proof))


def _changed(action: Action, latest: str | None, before: dict, ctx: ActContext) -> Outcome:
    collected = action.params["version"]
    return outcome(action, SKIPPED, f"secret {action.params['name']} changed since collection (version {collected} "
                   f"-> {latest}): someone else wrote it; the next sweep judges the new version", ctx.now,
                   guard=guards.SECRET_CHANGED, before=before)


def _proof_text(proof: DataPlaneProof) -> str:
    status = proof.status if proof.status is not None else "no answer"
    return f"data plane HEAD /api/hubs/{dataplane.PROOF_HUB}/connections/<random>: {status} ({proof.outcome})" + (
        f", {proof.detail}" if proof.detail else "")


def _collected_fingerprint(obs: Observation, uri: str) -> str | None:
    return next((s.key_fingerprint for s in obs.secrets if s.uri.lower() == uri.lower()), None)


register(Remediation(KIND, SETTING, "secret_sync", 0, (RIGHTS,), plan, recheck, act, verify))
