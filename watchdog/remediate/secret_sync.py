"""Secret sync: write the resource's current connection string into a drifted Key Vault secret.

Re-check -> act -> verify, for one planned action, with the resource's lease already held:
1. GET the resource: never write for a resource with local auth disabled (its keys are deleted).
2. listKeys now: the value written is always one just read from the resource, never a remembered one.
3. Re-read the secret's latest version: Key Vault has no compare-and-set, so if anyone wrote a
   version since collection, that write wins and we stop.
4. set_secret with the same content type and tags, plus watchdog-written-by and watchdog-key.
5. Prove the new value with an authenticated data-plane call (404 = key accepted, 401 = rejected).
The connection string lives in a `Sensitive` from listKeys to set_secret and is never logged,
put in an Outcome, or raised in an exception text.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from watchdog import connstr, tags
from watchdog.collect import dataplane
from watchdog.models import Action, DataPlaneProof, Observation, Outcome, Sensitive
from watchdog.remediate._common import WATCHDOG, outcome

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

G_SECRET_CHANGED = "secret-changed"
G_LOCAL_AUTH = "local-auth-disabled"
G_PROVISIONING = "provisioning"


def execute(action: Action, obs: Observation, clients: AzureClients, now: datetime) -> Outcome:
    res = obs.resource
    which = action.params["key"]
    name, collected = action.params["name"], action.params["version"]
    before = {"version": collected, "key_fingerprint": _collected_fingerprint(obs, action.subject)}

    mgmt = clients.webpubsub(res.subscription_id).web_pub_sub
    fresh = mgmt.get(res.resource_group, res.name)
    if fresh.disable_local_auth:
        return outcome(action, "skipped", f"{res.name} has local auth disabled now: no key to write", now,
                       guard=G_LOCAL_AUTH, before=before)
    if (fresh.provisioning_state or "Succeeded") != "Succeeded":
        return outcome(action, "skipped", f"{res.name} is {fresh.provisioning_state} now, not Succeeded", now,
                       guard=G_PROVISIONING, before=before)

    # Checked before listKeys too: an abort then spends none of the subscription's ARM write budget.
    client = clients.secrets(action.params["vault_url"])
    if (version := client.get_secret(name).properties.version) != collected:
        return _changed(action, collected, version, before, now)

    keys = mgmt.list_keys(res.resource_group, res.name)
    value = Sensitive((keys.primary_connection_string if which == "primary" else keys.secondary_connection_string)
                      or "")
    del keys  # nothing else from listKeys is needed; keep the other key's value out of reach
    parsed = connstr.parse(value.reveal())  # ValueError texts name properties, never values
    if parsed.host != res.host_name.lower():
        return outcome(action, "failed", f"listKeys returned an endpoint for {parsed.host}, not {res.host_name}",
                       now, before=before)

    # Key Vault has no compare-and-set: re-read right before writing, to keep the window small.
    latest = client.get_secret(name).properties
    if latest.version != collected:
        return _changed(action, collected, latest.version, before, now)
    written = client.set_secret(
        name, value.reveal(), content_type=latest.content_type,
        tags={**(latest.tags or {}), tags.WRITTEN_BY: WATCHDOG, tags.WRITTEN_KEY: which},
    ).properties
    after = {"version": written.version, "key": which, "key_fingerprint": parsed.access_key.fingerprint()}

    proof = dataplane.prove(clients.dataplane, parsed)
    verified = proof.outcome == "accepted"
    reason = (f"wrote the {which} connection string as version {written.version}; "
              + ("the service accepts it" if verified else f"but the proof did not pass ({proof.outcome})"))
    return outcome(action, "done", reason, now, before=before, after=after, verified=verified,
                   proof=_proof_text(proof))


def _changed(action: Action, collected: str, latest: str | None, before: dict, now: datetime) -> Outcome:
    return outcome(action, "skipped", f"secret {action.params['name']} changed since collection (version {collected} "
                   f"-> {latest}): someone else wrote it; the next sweep judges the new version", now,
                   guard=G_SECRET_CHANGED, before=before)


def _proof_text(proof: DataPlaneProof) -> str:
    status = proof.status if proof.status is not None else "no answer"
    return f"data plane HEAD /api/hubs/{dataplane.PROOF_HUB}/connections/<random>: {status} ({proof.outcome})" + (
        f", {proof.detail}" if proof.detail else "")


def _collected_fingerprint(obs: Observation, uri: str) -> str | None:
    return next((s.key_fingerprint for s in obs.secrets if s.uri.lower() == uri.lower()), None)
