"""plan: what remediation would do and why, and what it refuses to do and why. Pure: no I/O.

Input is what the sweep already has (observations, findings), the settings, the mode per action
kind, the ledger facts that matter (last scale, low-utilisation-since) and the clock. Output is a
`Plan`: actions to take (or show, in plan mode) and `skipped` outcomes naming the guard that
stopped each one. Executors re-check everything that can change before they act (secret_sync.py,
scale.py); the plan is the policy, not the last word.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from watchdog import tags
from watchdog.checks import capacity, key_drift, tiers
from watchdog.checks._common import label, pct
from watchdog.connstr import HostKind
from watchdog.models import Action, BoundSecret, Finding, Observation, Outcome, Severity
from watchdog.remediate import sizing
from watchdog.settings import Settings

SECRET_SYNC = "secret-sync"
SCALE = "scale"
SCALE_IN = "scale-in"
KINDS = (SECRET_SYNC, SCALE, SCALE_IN)
CAPACITY_SUBJECT = "capacity"

# Guards: the names a skipped Outcome carries in `guard`.
G_LOCAL_AUTH = "local-auth-disabled"
G_PROVISIONING = "provisioning"
G_FREE = "free-tier"
G_TIER = "tier"
G_AUTOSCALE = "autoscale"
G_COOLDOWN = "cooldown"
G_BUDGET = "budget"
G_SKU_MAX = "sku-max"
G_SECRET_DISABLED = "secret-disabled"
G_KEY_TAG = "key-tag"
G_FOREIGN = "foreign-endpoint"
G_PROOF_ACCEPTED = "proof-accepted"

# key-drift checks that secret sync answers: the stored key is not a current one.
_SYNC_CHECKS = ("stale-key", "key-rejected", "wrong-endpoint")
# capacity checks that make scaling out urgent whatever the threshold.
_URGENT_CHECKS = ("utilisation", "throttled", "free-at-cap")


@dataclass(frozen=True)
class ScaleFacts:
    """What the ledger remembers about a resource's scaling."""

    last_scaled: datetime | None = None
    low_since: datetime | None = None


@dataclass(frozen=True)
class Plan:
    actions: list[Action] = field(default_factory=list)
    skipped: list[Outcome] = field(default_factory=list)


def plan(
    observations: Iterable[Observation],
    findings: Iterable[Finding],
    settings: Settings,
    modes: Mapping[str, str],
    facts: Mapping[str, ScaleFacts],
    now: datetime,
) -> Plan:
    """`facts` is keyed by lower-case resource id; kinds whose mode is off (or absent) are not planned."""
    findings = list(findings)
    out = Plan()
    for obs in observations:
        mine = [f for f in findings if f.resource_id.lower() == obs.resource.id.lower()]
        if modes.get(SECRET_SYNC, "off") != "off":
            _secret_sync(obs, mine, out)
        fact = facts.get(obs.resource.id.lower(), ScaleFacts())
        scaled_out = False
        if modes.get(SCALE, "off") != "off":
            scaled_out = _scale_out(obs, mine, settings, fact, now, out)
        if modes.get(SCALE_IN, "off") != "off" and not scaled_out:
            _scale_in(obs, settings, fact, now, out)
    return out


def _skip(out: Plan, action: Action, guard: str, reason: str) -> None:
    out.skipped.append(Outcome(action=action, status="skipped", reason=reason, guard=guard))


# --- secret sync ------------------------------------------------------------------------------


def _secret_sync(obs: Observation, findings: list[Finding], out: Plan) -> None:
    res = obs.resource
    by_uri = {s.uri.lower(): s for s in obs.secrets}
    for f in findings:
        if f.rule != key_drift.RULE:
            continue
        secret = by_uri.get(f.subject.lower())
        if secret is None:
            continue
        if f.check == "local-auth-disabled":
            action = _sync_action(obs, secret, f, "primary")
            _skip(out, action, G_LOCAL_AUTH,
                  f"{label(res)} has local auth disabled: access keys do not work, so there is no key to "
                  "write; move the apps to Microsoft Entra ID and retire this secret")
        elif f.check in _SYNC_CHECKS:
            _sync_candidate(obs, secret, f, out)


def _sync_candidate(obs: Observation, secret: BoundSecret, f: Finding, out: Plan) -> None:
    res = obs.resource
    which = secret.tags.get(tags.KEY, "primary").strip().lower()
    action = _sync_action(obs, secret, f, which if which in ("primary", "secondary") else "primary")
    if which not in ("primary", "secondary"):
        _skip(out, action, G_KEY_TAG, f"secret tag {tags.KEY}={secret.tags.get(tags.KEY)!r} is neither primary "
                                      "nor secondary: which key to write is unclear")
    elif res.disable_local_auth:
        _skip(out, action, G_LOCAL_AUTH, f"{label(res)} has local auth disabled: access keys do not work")
    elif res.provisioning_state.lower() != "succeeded":
        _skip(out, action, G_PROVISIONING,
              f"{label(res)} is {res.provisioning_state}, not Succeeded: its keys may be about to change")
    elif not secret.enabled:
        _skip(out, action, G_SECRET_DISABLED,
              f"secret {secret.name} is disabled in Key Vault: someone took it out of service on purpose")
    elif f.check == "wrong-endpoint" and f.evidence.get("host_kind") != HostKind.OTHER_WEBPUBSUB.value:
        # Another product's connection string means the binding is wrong, not the value: writing
        # ours would break whichever app really reads this secret.
        _skip(out, action, G_FOREIGN,
              f"secret {secret.name} holds a {f.evidence.get('host_kind')} connection string, not a Web PubSub "
              f"one: fix the binding (tag {tags.RESOURCE_ID} / {tags.SECRETS}) instead")
    elif f.check == "stale-key" and f.evidence.get("proof_outcome") == "accepted":
        _skip(out, action, G_PROOF_ACCEPTED,
              "the service accepted the stored key although it matched neither listed key: keys probably "
              "changed during the sweep; the next sweep re-reads them")
    else:
        out.actions.append(action)


def _sync_action(obs: Observation, secret: BoundSecret, f: Finding, which: str) -> Action:
    return Action(
        kind=SECRET_SYNC, resource_id=obs.resource.id, subject=secret.uri,
        reason=f"{f.summary}: write the {which} connection string of {label(obs.resource)} as a new version",
        params={"key": which, "vault_url": secret.vault_url, "name": secret.name, "version": secret.version},
        finding=f.fingerprint,
    )


# --- scaling ----------------------------------------------------------------------------------


def _scale_action(obs: Observation, kind: str, to: int, reason: str, finding: Finding | None) -> Action:
    res = obs.resource
    return Action(kind=kind, resource_id=res.id, subject=CAPACITY_SUBJECT, reason=reason,
                  params={"sku": res.sku_name, "from": res.capacity, "to": to},
                  finding=finding.fingerprint if finding else None)


def _common_guards(obs: Observation, settings: Settings, fact: ScaleFacts, now: datetime) -> tuple[str, str] | None:
    """The guards every scale shares, in order of how fundamental they are: (guard, reason)."""
    res = obs.resource
    if res.provisioning_state.lower() != "succeeded":
        return G_PROVISIONING, f"{label(res)} is {res.provisioning_state}, not Succeeded: another change is under way"
    if obs.autoscale:
        return G_AUTOSCALE, (f"autoscale setting {', '.join(obs.autoscale)} manages {label(res)}: change its rules "
                             "instead; the watchdog never scales against it")
    if fact.last_scaled is not None:
        until = fact.last_scaled + timedelta(minutes=settings.scale_cooldown_minutes)
        if now < until:
            left = (until - now) / timedelta(minutes=1)
            return G_COOLDOWN, (f"scaled at {fact.last_scaled.isoformat(timespec='minutes')}: cooldown of "
                                f"{settings.scale_cooldown_minutes} min has {left:.0f} min left")
    return None


def _scale_out(obs: Observation, findings: list[Finding], settings: Settings, fact: ScaleFacts,
               now: datetime, out: Plan) -> bool:
    """Plans (or skips) a scale-out; True if scaling out was called for at all."""
    res = obs.resource
    urgent = next((f for f in findings if f.rule == capacity.RULE and f.check in _URGENT_CHECKS
                   and f.severity == Severity.CRITICAL), None)
    current = sizing.load(obs)
    if current is None and urgent is None:
        return False
    if urgent is None and current.utilisation_pct < settings.scale_threshold_pct:
        return False
    # Throttled without a connection metric: the service is refusing at its cap, so the peak is the cap.
    cap = tiers.connection_cap(res) or 0
    peak = current.peak_connections if current else float(cap)
    util = current.utilisation_pct if current else 100.0
    why = (f"{label(res)} peaked at {peak:,.0f} of {cap:,} connections ({pct(util)}) on {res.capacity} unit(s) "
           f"{res.sku_name}" + (f", {urgent.check} is critical" if urgent else
                                f", at or above the {settings.scale_threshold_pct}% scale threshold"))

    if tiers.is_free(res):
        # Never automatic: leaving Free changes the public IP (DNS takes 30-60 min to follow).
        guidance = next((f.guidance for f in findings if f.rule == capacity.RULE and f.guidance),
                        "Upgrade to Standard_S1 by hand at a quiet moment.")
        _skip(out, _scale_action(obs, SCALE, res.capacity, why, urgent), G_FREE,
              f"Free tier cannot add units. {guidance}")
        return True
    if res.sku_tier.lower() not in ("standard", "premium"):
        _skip(out, _scale_action(obs, SCALE, res.capacity, why, urgent), G_TIER,
              f"tier {res.sku_tier!r} is not Standard or Premium: the watchdog scales only those")
        return True
    wanted = sizing.scale_out_units(obs, peak, settings.scale_target_pct)
    if wanted is None:
        _skip(out, _scale_action(obs, SCALE, res.capacity, why, urgent), G_SKU_MAX,
              f"{res.sku_name} allows no more than {res.capacity} units: move to a larger SKU or spread the clients")
        return True
    guard = _common_guards(obs, settings, fact, now)
    if guard:
        _skip(out, _scale_action(obs, SCALE, wanted, why, urgent), *guard)
        return True
    try:
        most = sizing.budget(obs, settings)
    except ValueError as exc:
        _skip(out, _scale_action(obs, SCALE, wanted, why, urgent), G_BUDGET, f"{exc}: fix or remove the tag")
        return True
    to = sizing.within_budget(obs, wanted, most)
    if to is None:
        _skip(out, _scale_action(obs, SCALE, wanted, why, urgent), G_BUDGET,
              f"{wanted} units would exceed the budget of {most} ({tags.MAX_UNITS} / WATCHDOG_MAX_UNITS) and "
              f"no allowed step above {res.capacity} fits it")
        return True
    after = peak * 100 / (to * (tiers.connections_per_unit(res) or 1))
    how = (f"; scale to {to} units, the smallest allowed step bringing the peak under "
           f"{settings.scale_target_pct}% ({pct(after)})" if to == wanted else
           f"; scale to {to} units, capped by the budget of {most} ({wanted} would reach "
           f"{settings.scale_target_pct}%), leaving {pct(after)}")
    out.actions.append(_scale_action(obs, SCALE, to, why + how, urgent))
    return True


def _scale_in(obs: Observation, settings: Settings, fact: ScaleFacts, now: datetime, out: Plan) -> None:
    res = obs.resource
    current = sizing.load(obs)
    if current is None or fact.low_since is None or tiers.is_free(res):
        return
    low_for = (now - fact.low_since) / timedelta(minutes=1)
    if current.utilisation_pct >= settings.scale_in_below_pct or low_for < settings.scale_in_after_minutes:
        return
    to = sizing.scale_in_units(obs, current.peak_connections, settings)
    if to is None:
        return
    why = (f"{label(res)} stayed below {settings.scale_in_below_pct}% for {low_for:.0f} min (peak "
           f"{current.peak_connections:,.0f} of {current.cap:,}, {pct(current.utilisation_pct)}); scale in to {to} "
           f"units, the fewest keeping the peak under {settings.scale_target_pct}% (minimum {settings.min_units})")
    action = _scale_action(obs, SCALE_IN, to, why, None)
    guard = _common_guards(obs, settings, fact, now)
    if guard:
        _skip(out, action, *guard)
    else:
        out.actions.append(action)
