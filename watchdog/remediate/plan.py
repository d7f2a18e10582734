"""plan: what remediation would do and why, and what it refuses to do and why. Pure: no I/O.

Input is what the sweep already has (observations, findings), the settings, the mode per action
kind, the ledger facts that matter (last scale, low-utilisation-since) and the clock. Output is a
`Plan`: actions to take (or show, in plan mode) and `skipped` outcomes naming the guard that
stopped each one. Each registered remediation plans its own kind, in its order; executors
re-check everything that can change before they act: the plan is the policy, not the last word.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

from watchdog.models import Action, Finding, Observation, Outcome
from watchdog.remediate.registry import PlanContext, remediations

if TYPE_CHECKING:
    from watchdog.settings import Settings


@dataclass(frozen=True)
class ScaleFacts:
    """What the ledger remembers about a resource's scaling."""

    last_scaled: datetime | None = None
    low_since: datetime | None = None


@dataclass(frozen=True)
class Plan:
    actions: list[Action] = field(default_factory=list)
    skipped: list[Outcome] = field(default_factory=list)

    def kinds_planned(self) -> Iterator[Action]:
        """Every action planned so far, taken or stopped by a guard."""
        yield from self.actions
        yield from (o.action for o in self.skipped)


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
    active = [r for r in remediations() if modes.get(r.kind, "off") != "off"]
    out = Plan()
    for obs in observations:
        mine = [f for f in findings if f.resource_id.lower() == obs.resource.id.lower()]
        ctx = PlanContext(settings, facts.get(obs.resource.id.lower(), ScaleFacts()), now)
        for remediation in active:
            remediation.plan(obs, mine, ctx, out)
    return out
