"""The remediation registry: each kind is one executor with one interface, plus its setting,
rights and order.

    plan(obs, findings, ctx, out)      policy, pure: add actions or skipped outcomes to `out`
    recheck(action, obs, ctx)          read what may have changed; an Outcome stops (skipped)
    act(action, obs, ctx, checked)     write; an Outcome stops (failed)
    verify(action, obs, ctx, acted)    re-read or prove, and say what happened

`run()` chains the last three. `get(kind)` raises on a kind nobody registered: an action is never
handed to another kind's executor. Adding a remediation: a module in `watchdog/remediate/` that
builds its `Remediation` (its mode `Setting`, its permission `Feature` rows) and calls `register`;
list it in `watchdog/remediate/__init__.py`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

from watchdog.config import MODES, Setting
from watchdog.models import Action, Finding, Observation, Outcome
from watchdog.rights import Feature

if TYPE_CHECKING:
    from watchdog.azure import AzureClients
    from watchdog.ledger.base import Ledger
    from watchdog.remediate.plan import Plan, ScaleFacts
    from watchdog.settings import Settings


@dataclass(frozen=True)
class PlanContext:
    settings: Settings
    fact: ScaleFacts  # what the ledger remembers about the resource's scaling
    now: datetime


@dataclass(frozen=True)
class ActContext:
    clients: AzureClients
    ledger: Ledger
    settings: Settings
    now: datetime
    prior: tuple[Outcome, ...] = ()  # this sweep's outcomes so far on the same resource, in order
    deadline: float | None = None  # time.monotonic() by which an action stops waiting (the sweep's budget)

    def wait_seconds(self) -> float:
        """How long an action may wait for a long-running operation: its timeout, within the budget."""
        limit = float(self.settings.operation_timeout_seconds)
        if self.deadline is not None:
            limit = min(limit, max(0.0, self.deadline - time.monotonic()))
        return limit


@dataclass(frozen=True)
class Remediation:
    kind: str
    setting: Setting  # its mode: off, plan or on
    attr: str  # the Settings field holding that mode
    order: int  # lower runs first, in planning and on one resource (a stale key is an outage now)
    permissions: tuple[Feature, ...]  # the rights it needs beyond reading (watchdog.permissions)
    plan: Callable[[Observation, list[Finding], PlanContext, Plan], None]
    recheck: Callable[[Action, Observation, ActContext], Any]
    act: Callable[[Action, Observation, ActContext, Any], Any]
    verify: Callable[[Action, Observation, ActContext, Any], Outcome]


_KINDS: dict[str, Remediation] = {}


class UnknownRemediation(KeyError):
    """An action of a kind nobody registered: a bug, never a reason to run another executor."""


def register(remediation: Remediation) -> Remediation:
    if remediation.kind in _KINDS:
        raise ValueError(f"remediation {remediation.kind} is registered twice")
    _KINDS[remediation.kind] = remediation
    return remediation


def remediations() -> tuple[Remediation, ...]:
    """Every registered remediation, in its order."""
    return tuple(sorted(_KINDS.values(), key=lambda r: r.order))


def kinds() -> tuple[str, ...]:
    return tuple(r.kind for r in remediations())


def get(kind: str) -> Remediation:
    try:
        return _KINDS[kind]
    except KeyError:
        raise UnknownRemediation(f"no remediation of kind {kind!r} is registered") from None


def run(action: Action, obs: Observation, ctx: ActContext) -> Outcome:
    """Re-check -> act -> verify for one action of a registered kind."""
    rem = get(action.kind)
    checked = rem.recheck(action, obs, ctx)
    if isinstance(checked, Outcome):
        return checked
    acted = rem.act(action, obs, ctx, checked)
    if isinstance(acted, Outcome):
        return acted
    return rem.verify(action, obs, ctx, acted)


def modes(configured: Mapping[str, str], requested: str | None = None) -> dict[str, str]:
    """Mode per kind: as configured, or the lower of configured and what a caller asks (off <
    plan < on). A request can lower a mode, never raise it: the app's settings are the ceiling,
    so a caller holding a function key cannot make a kind configured `plan` write."""
    if requested is None:
        return dict(configured)
    if requested not in MODES:
        raise ValueError(f"mode {requested!r} is not one of {', '.join(MODES)}")
    return {kind: min(mode, requested, key=MODES.index) for kind, mode in configured.items()}
