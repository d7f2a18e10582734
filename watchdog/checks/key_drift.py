"""key-drift: does each bound Key Vault secret hold a working connection string for its resource?

Keys are compared by fingerprint (collectors fingerprint listKeys and the parsed secret the same
way). The data-plane proof (HEAD on a random connection id with the stored key) is the ground
truth: 401 means broken for real, whatever the fingerprints say.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from watchdog import tags
from watchdog.checks._common import finding, label
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.config import Setting
from watchdog.connstr import classify_host
from watchdog.models import BoundSecret, ErrorKind, Finding, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "key-drift"
KEYS_DEFERRED = "not listed this sweep: budget"
SECRET_SYNC = "secret-sync"  # the remediation kind that answers a drifted key

_SYNC = (
    "Write the resource's current primary connection string into this secret (secret sync does it "
    "when WATCHDOG_SECRET_SYNC=on; 'plan' shows the action), then make the apps that read it reload it."
)
SETTINGS = (
    Setting("WATCHDOG_SECRET_EXPIRY_DAYS", "30", "A bound secret expiring within this many days raises a warning."),
)
_SECRET = frozenset({Source.INVENTORY, Source.SECRETS})
_SECRET_AND_KEYS = _SECRET | {Source.KEYS}

STALE_KEY = Check(RULE, "stale-key", Severity.CRITICAL,
                  "the key matches neither current key (warning if the service still accepted it: keys changed "
                  "mid-sweep)", _SECRET_AND_KEYS, SECRET_SYNC, _SYNC, also=(Severity.WARNING,))
KEY_REJECTED = Check(RULE, "key-rejected", Severity.CRITICAL,
                     "the service answered 401 (the key matched when listed, or the keys could not be listed)",
                     _SECRET, SECRET_SYNC, _SYNC)
SECONDARY_KEY = Check(RULE, "secondary-key", Severity.WARNING,
                      "the key is the secondary: valid today, broken at the next secondary rotation (silent when "
                      f"the secret is tagged `{tags.KEY}=secondary`)", _SECRET_AND_KEYS)
WRONG_ENDPOINT = Check(RULE, "wrong-endpoint", Severity.CRITICAL,
                       "the Endpoint host is not the resource's: another Web PubSub, a `*.signalr.net` or "
                       "`*.servicebus.windows.net` host, anything else", _SECRET, SECRET_SYNC)
NOT_CONNECTION_STRING = Check(RULE, "not-connection-string", Severity.CRITICAL,
                              "the value has no Endpoint/AccessKey or is malformed (the reason names the property, "
                              "never the value)", _SECRET)
SECRET_DISABLED = Check(RULE, "secret-disabled", Severity.CRITICAL, "the secret is disabled", _SECRET,
                        guidance="Enable the secret (or a newer version of it) in Key Vault, or point the apps at "
                                 "another secret.")
SECRET_EXPIRED = Check(RULE, "secret-expired", Severity.CRITICAL, "the secret's expiry date has passed", _SECRET,
                       guidance="Set a new expiry date on the secret (or write a new version with one); apps that "
                                "honour expiry will stop reading it.")
SECRET_EXPIRING = Check(RULE, "secret-expiring", Severity.WARNING,
                        "it expires within `WATCHDOG_SECRET_EXPIRY_DAYS` (30)", _SECRET,
                        guidance="Extend the secret's expiry date or write a new version with a later one before "
                                 "it lapses.")
LOCAL_AUTH_DISABLED = Check(RULE, "local-auth-disabled", Severity.WARNING,
                            "the resource has local auth disabled but the secret still holds a key (other key-drift "
                            "checks are skipped: keys cannot work there; secret sync refuses)", _SECRET, SECRET_SYNC,
                            "Switch the apps to Microsoft Entra ID (managed identity) and delete or disable this "
                            "secret; the key in it cannot work while disableLocalAuth is true.")
CONFLICTING_BINDING = Check(RULE, "conflicting-binding", Severity.CRITICAL,
                            f"two or more resources claim the secret (tag `{tags.SECRETS}` on each, or a "
                            f"`{tags.RESOURCE_ID}` tag naming one while another's `{tags.SECRETS}` names the secret); "
                            "secret sync never writes it until one binding is removed", _SECRET,
                            guidance="Decide which resource the secret belongs to and remove the other binding "
                                     f"(its `{tags.SECRETS}` entry or the secret's `{tags.RESOURCE_ID}` tag); each "
                                     "resource needs its own secret.")
VAULT_NOT_ALLOWED = Check(RULE, "vault-not-allowed", Severity.WARNING,
                          "the secret is in a vault outside `WATCHDOG_KEY_VAULTS`: it is judged, never written "
                          "(the allow-list is also what infra grants)", _SECRET,
                          guidance="Add the vault to WATCHDOG_KEY_VAULTS (and grant the app's identity on it) if "
                                   "the watchdog should keep this secret in sync; otherwise keep it in sync yourself.")


def _binding_findings(obs: Observation, secret: BoundSecret, settings: Settings) -> list[Finding]:
    """Whether the watchdog may write the secret at all: one claimant, a vault it was given."""
    res, out = obs.resource, []
    evidence = {"secret": secret.uri}
    if secret.claimed_by:
        out.append(finding(CONFLICTING_BINDING, res.id, secret.uri,
                           f"Secret {secret.name} is bound to {label(res)} and to {len(secret.claimed_by)} other "
                           "resource(s): secret sync will not write it", {**evidence, "claimed_by": list(secret.claimed_by)}))
    if secret.vault_url.lower() not in {v.lower().rstrip("/") for v in settings.key_vaults}:
        out.append(finding(VAULT_NOT_ALLOWED, res.id, secret.uri,
                           f"Secret {secret.name} of {label(res)} is in {secret.vault_url}, not in WATCHDOG_KEY_VAULTS: "
                           "secret sync will not write it", {**evidence, "vault": secret.vault_url}))
    return out


def _proof_evidence(secret: BoundSecret) -> dict[str, Any]:
    proof = secret.proof
    if proof is None:
        return {"proof_outcome": "none"}
    evidence = {"proof_status": proof.status, "proof_outcome": proof.outcome, "proof_detail": proof.detail}
    if secret.proved_at is not None:  # a proof reused from an earlier sweep says how old it is
        evidence["proved_at"] = secret.proved_at.isoformat()
    return evidence


def _rejected(secret: BoundSecret) -> bool:
    return secret.proof is not None and (secret.proof.status == 401 or secret.proof.outcome == "rejected")


def accepted(secret: BoundSecret) -> bool:
    """The data-plane proof says the service took the stored key."""
    return secret.proof is not None and secret.proof.outcome == "accepted"


def _proof_text(secret: BoundSecret) -> str:
    if _rejected(secret):
        return "the service answered 401: broken for real"
    if accepted(secret):
        return f"the service accepted it ({secret.proof.status})"
    return "no data-plane proof"


def _keys_deferred(obs: Observation) -> bool:
    """listKeys was skipped this sweep (WATCHDOG_MAX_LIST_KEYS): the keys are unknown, not broken."""
    return obs.keys is None and any(e.source == "keys" and e.kind == ErrorKind.DEFERRED for e in obs.errors)


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    return [f for secret in obs.secrets
            for f in (*_binding_findings(obs, secret, settings), *_check_secret(obs, secret, settings, now))]


def _check_secret(obs: Observation, secret: BoundSecret, settings: Settings, now: datetime) -> list[Finding]:
    res = obs.resource
    name = f"{secret.vault_url.removeprefix('https://').split('.')[0]}/{secret.name}"
    evidence: dict[str, Any] = {"secret": secret.uri, "version": secret.version, **_proof_evidence(secret)}
    if _keys_deferred(obs):
        evidence["keys"] = KEYS_DEFERRED

    def make(check: Check, summary: str, guidance: str | None = None, severity: Severity | None = None,
             **extra: Any) -> Finding:
        return finding(check, res.id, secret.uri, summary, {**evidence, **extra}, guidance=guidance,
                       severity=severity)

    holds_key = secret.has_value and (secret.key_fingerprint is not None or secret.endpoint_host is not None)
    if res.disable_local_auth:
        # Access keys do not work on this resource, so drift is moot; a stored key is leftover risk.
        if not holds_key:
            return []
        return [make(
            LOCAL_AUTH_DISABLED,
            f"Secret {name} still holds an access-key connection string, but {label(res)} has local auth disabled",
        )]

    out: list[Finding] = []
    if not secret.enabled:
        out.append(make(SECRET_DISABLED, f"Secret {name} for {label(res)} is disabled: apps cannot read it"))
    if secret.expires_on is not None:
        days_left = (secret.expires_on - now) / timedelta(days=1)
        if days_left <= 0:
            out.append(make(
                SECRET_EXPIRED, f"Secret {name} for {label(res)} expired {-days_left:.1f} days ago",
                expires_on=secret.expires_on.isoformat(), days_left=round(days_left, 1),
            ))
        elif days_left <= settings.secret_expiry_days:
            out.append(make(
                SECRET_EXPIRING,
                f"Secret {name} for {label(res)} expires in {days_left:.1f} days "
                f"(warning window {settings.secret_expiry_days} days)",
                expires_on=secret.expires_on.isoformat(), days_left=round(days_left, 1),
                window_days=settings.secret_expiry_days,
            ))
    if not secret.has_value:
        return out  # the read failure itself is reported as a blind-spot by the collector's error

    if secret.parse_error is not None or secret.endpoint_host is None or secret.key_fingerprint is None:
        out.append(make(
            NOT_CONNECTION_STRING,
            f"Secret {name} for {label(res)} does not hold a Web PubSub connection string "
            f"({secret.parse_error or 'unparsed'}); {_proof_text(secret)}",
            f"Write a connection string of the form Endpoint=https://{res.host_name};AccessKey=...;Version=1.0; "
            "into the secret. " + _SYNC,
            parse_error=secret.parse_error,
        ))
        return out

    if secret.endpoint_host.lower() != res.host_name.lower():
        kind = classify_host(secret.endpoint_host, res.host_name)
        out.append(make(
            WRONG_ENDPOINT,
            f"Secret {name} points at {secret.endpoint_host} ({kind.value}), not {res.host_name}; "
            f"{_proof_text(secret)}",
            f"The secret is bound to {label(res)} but holds another service's connection string. Fix the "
            f"binding (tag {tags.RESOURCE_ID} / {tags.SECRETS}) if it is the wrong secret; otherwise: " + _SYNC,
            endpoint_host=secret.endpoint_host, expected_host=res.host_name, host_kind=kind.value,
        ))
        return out

    out.extend(_key_verdict(obs, secret, name, make))
    return out


def _key_verdict(
    obs: Observation, secret: BoundSecret, name: str, make: Callable[..., Finding]
) -> list[Finding]:
    res, keys = obs.resource, obs.keys
    fp = secret.key_fingerprint
    if keys is None:
        # listKeys failed (a blind-spot) or was deferred (budget); only the proof can still convict
        # the secret. An accepted proof cannot tell the primary key from the secondary: no verdict
        # until the keys are listed.
        unread = f"keys {KEYS_DEFERRED}" if _keys_deferred(obs) else "current keys could not be read"
        if _rejected(secret):
            return [make(
                KEY_REJECTED, f"Secret {name} for {label(res)}: {_proof_text(secret)} ({unread})",
            )]
        return []
    matched = "primary" if fp == keys.primary else "secondary" if fp == keys.secondary else None
    ev = {"matches": matched or "neither", "keys_read_at": keys.read_at.isoformat()}
    if matched is None:
        if accepted(secret):
            # Keys may have rotated between listKeys and the proof: the proof is fresher.
            return [make(
                STALE_KEY,
                f"Secret {name} matches neither key listed for {label(res)}, yet {_proof_text(secret)}",
                "Keys probably changed during the sweep; the next sweep re-reads them. If this persists, "
                + _SYNC, Severity.WARNING, **ev,
            )]
        return [make(
            STALE_KEY,
            f"Secret {name} holds a key that matches neither current key of {label(res)}; {_proof_text(secret)}",
            **ev,
        )]
    if _rejected(secret):
        return [make(
            KEY_REJECTED,
            f"Secret {name} matches the {matched} key of {label(res)}, but {_proof_text(secret)}",
            "The key was probably regenerated after it was listed. " + _SYNC, **ev,
        )]
    intended = secret.tags.get(tags.KEY, "primary").strip().lower()
    if matched == "secondary" and intended != "secondary":
        return [make(
            SECONDARY_KEY,
            f"Secret {name} holds the secondary key of {label(res)}: valid today ({_proof_text(secret)}), "
            "broken at the next secondary rotation",
            f"{_SYNC} If the secondary key is intended, tag the secret {tags.KEY}=secondary.", **ev,
        )]
    return []


register(Rule(
    RULE,
    (STALE_KEY, KEY_REJECTED, SECONDARY_KEY, WRONG_ENDPOINT, NOT_CONNECTION_STRING, SECRET_DISABLED, SECRET_EXPIRED,
     SECRET_EXPIRING, LOCAL_AUTH_DISABLED, CONFLICTING_BINDING, VAULT_NOT_ALLOWED),
    check,
    doc="for each Key Vault secret bound to a resource. The stored connection string is parsed (property names "
        "case-blind, spaces and order ignored, `Port=` allowed) and its key compared by fingerprint with the keys "
        "`listKeys` returned. The data-plane proof (a `HEAD` for a random connection id signed with the stored key: "
        "404 = accepted, 401 = rejected) travels with every verdict and wins over the fingerprints: 401 means "
        "broken for real.",
))
