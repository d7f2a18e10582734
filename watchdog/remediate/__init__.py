"""Remediation: plan -> re-check -> act -> verify -> record, per action, per mode.

`remediate(...)` is the sweep's remediation stage. `mode` maps each action kind (secret-sync,
scale, scale-in) to off, plan or on:
- off: the kind is not even planned;
- plan: its actions come back as `planned` outcomes and nothing is written anywhere in Azure
  (not even listKeys, a POST that spends the subscription's ARM write budget);
- on: each action runs under the resource's lease in the ledger, so two overlapping sweeps
  (timer and HTTP) never both act on one resource, and is recorded in the ledger's audit trail.
Guards that stop an action come back as `skipped` outcomes that name the guard and say why.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Iterable, Mapping

from watchdog import clock
from watchdog.ledger.base import Ledger
from watchdog.models import Action, Finding, Observation, Outcome, OutcomeStatus
from watchdog.remediate import plan as policy
from watchdog.remediate import registry, sizing

# Each remediation module registers itself on import.
from watchdog.remediate import secret_sync  # noqa: F401, I001
from watchdog.remediate import consumer_refresh  # noqa: F401
from watchdog.remediate import rotate  # noqa: F401
from watchdog.remediate import scale  # noqa: F401
from watchdog.remediate import alerts  # noqa: F401
from watchdog.remediate._common import failure, outcome, planned, record
from watchdog.remediate.guards import LEASE
from watchdog.remediate.plan import Plan, ScaleFacts
from watchdog.remediate.in_progress import verify_in_progress
from watchdog.remediate.scale_plan import SCALE, SCALE_IN

if TYPE_CHECKING:
    from watchdog.azure import AzureClients
    from watchdog.settings import Settings

FAILED, SKIPPED = OutcomeStatus.FAILED, OutcomeStatus.SKIPPED

__all__ = ["remediate"]

log = logging.getLogger("watchdog.remediate")
_LEASE_MARGIN_SECONDS = 120  # the lease outlives the longest wait for a scale operation


def remediate(
    observations: Iterable[Observation],
    findings: Iterable[Finding],
    settings: Settings,
    mode: Mapping[str, str] | None,
    clients: AzureClients,
    ledger: Ledger | None,
    now: datetime,
    *,
    deadline: float | None = None,
) -> list[Outcome]:
    """Outcomes of this sweep's remediation: skipped ones (with their guard) first, then the
    planned, done or failed ones. `mode` None means the configured modes (Settings.modes()).
    Without a ledger nothing is acted on: there would be no lease, cooldown or audit trail."""
    modes = dict(settings.modes() if mode is None else mode)
    if all(modes.get(kind, "off") == "off" for kind in registry.kinds()):
        return []
    observations = list(observations)
    if ledger is not None and any(modes.get(kind) == "on" for kind in registry.kinds()):
        verify_in_progress(clients, ledger, now)  # scales an earlier sweep left running
    facts = _facts(observations, settings, modes, ledger, now) if ledger is not None else {}
    the_plan = policy.plan(observations, findings, settings, modes, facts, now)
    results = list(the_plan.skipped)
    results += [planned(a, now) for a in the_plan.actions if modes.get(a.kind) == "plan"]
    if ledger is None:
        results += [outcome(a, SKIPPED, "no ledger: without a lease, cooldown and audit trail the watchdog "
                                          "does not act", now, guard=LEASE)
                    for a in the_plan.actions if modes.get(a.kind) == "on"]
    else:
        results += _act(the_plan, observations, clients, ledger, settings, modes, now, deadline)
    return results


def _facts(observations: list[Observation], settings: Settings, modes: Mapping[str, str], ledger: Ledger,
           now: datetime) -> dict[str, ScaleFacts]:
    """Ledger facts the plan needs, updating the scale-in hysteresis on the way. That bookkeeping
    is the one ledger write plan mode makes: without it a dry run could never show a scale-in."""
    if modes.get(SCALE, "off") == "off" and modes.get(SCALE_IN, "off") == "off":
        return {}
    facts: dict[str, ScaleFacts] = {}
    for obs in observations:
        rid = obs.resource.id
        low_since = ledger.low_since(rid)
        if modes.get(SCALE_IN, "off") != "off":
            updated = sizing.next_low_since(obs, settings, low_since, now)
            if updated != low_since:
                ledger.set_low_since(rid, updated)
            low_since = updated
        facts[rid.lower()] = ScaleFacts(last_scaled=ledger.last_scaled(rid), low_since=low_since)
    return facts


def _act(the_plan: Plan, observations: list[Observation], clients: AzureClients, ledger: Ledger,
         settings: Settings, modes: Mapping[str, str], now: datetime, deadline: float | None) -> list[Outcome]:
    by_id = {o.resource.id.lower(): o for o in observations}
    per_resource: dict[str, list[Action]] = {}
    for action in the_plan.actions:
        if modes.get(action.kind) == "on":
            per_resource.setdefault(action.resource_id.lower(), []).append(action)
    sweep_id = uuid.uuid4().hex
    ttl = settings.operation_timeout_seconds + _LEASE_MARGIN_SECONDS
    results: list[Outcome] = []
    for rid, actions in per_resource.items():
        # In the registry's order: secrets first (a stale key is an outage now; a scale may take minutes).
        order = {kind: i for i, kind in enumerate(registry.kinds())}
        actions.sort(key=lambda a: order.get(a.kind, len(order)))
        # Taken now, at action time, with its own expiry: a lease dated from the sweep's start
        # could be born expired after a long collection.
        if not ledger.acquire_lease(rid, sweep_id, ttl, clock.now()):
            results += [outcome(a, SKIPPED, "another sweep holds this resource's lease and is acting on it",
                                now, guard=LEASE) for a in actions]
            continue
        try:
            done: list[Outcome] = []  # a later kind may build on an earlier one (refresh after sync)
            for a in actions:
                ctx = registry.ActContext(clients, ledger, settings, now, prior=tuple(done), deadline=deadline)
                done.append(_run(a, by_id[rid], ctx, sweep_id))
            results += done
        finally:
            ledger.release_lease(rid, sweep_id)
    return results


def _run(action: Action, obs: Observation, ctx: registry.ActContext, sweep_id: str) -> Outcome:
    ledger, now = ctx.ledger, ctx.now
    entry_id = uuid.uuid4().hex
    # Recorded before acting, so a sweep that dies mid-action still leaves its intent in the trail.
    record(ledger, entry_id, sweep_id, planned(action, now))
    try:  # an unknown kind raises here (UnknownRemediation) and fails the action: never another executor
        result = registry.run(action, obs, ctx)
    except registry.UnknownRemediation as exc:
        result = outcome(action, FAILED, str(exc.args[0]), now)
    except Exception as exc:  # noqa: BLE001 - one failed action must not stop the sweep
        result = outcome(action, FAILED, failure(exc), now)
    log.info("%s %s on %s: %s", result.status, action.kind, obs.resource.name, result.reason)
    record(ledger, entry_id, sweep_id, result)
    return result
