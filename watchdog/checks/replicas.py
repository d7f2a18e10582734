"""replicas: each replica of a Premium resource has its own region, units and metrics, so its
capacity, throttling and load are judged on its own numbers (with the parent's thresholds, tags
included) and reported under the parent, with the replica as subject.

The judgement is capacity's (watchdog/checks/capacity.py) on the replica alone; the findings are
this rule's, with no remedy: the watchdog scales a resource, never a replica (a replica's units
are set on the replica).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from watchdog.checks import capacity
from watchdog.checks._common import finding
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.models import Finding, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "replicas"
_NEEDS = frozenset({Source.INVENTORY, Source.REPLICAS, Source.METRICS})
_GROW = ("Scale the replica's units (each replica has its own unit count: Replicas > the replica > Scale), "
         "or move clients to a replica with room; the watchdog does not scale replicas.")

UTILISATION = Check(RULE, "utilisation", Severity.WARNING,
                    "a replica's connections reach the warning (critical) share of its own cap", _NEEDS,
                    guidance=_GROW, also=(Severity.CRITICAL,))
THROTTLED = Check(RULE, "throttled", Severity.CRITICAL,
                  "a replica refuses connections at its cap (`ConnectionCloseCount` Throttled)", _NEEDS, guidance=_GROW)
SERVER_LOAD = Check(RULE, "server-load", Severity.WARNING,
                    "a replica's peak `ServerLoad` is at or above `WATCHDOG_SERVER_LOAD_WARN_PCT`", _NEEDS,
                    guidance=_GROW)
# capacity's check -> this rule's
_MIRRORED = {capacity.UTILISATION.id: UTILISATION, capacity.THROTTLED.id: THROTTLED,
             capacity.SERVER_LOAD_HIGH.id: SERVER_LOAD}


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    parent = obs.resource
    out: list[Finding] = []
    for rep in obs.replicas or ():
        if rep.metrics is None:  # not read: the metrics error (re-homed on the parent) says why
            continue
        alone = Observation(resource=replace(rep.replica, tags=parent.tags), metrics=rep.metrics)
        name = rep.replica.name
        for f in capacity.check(alone, settings, now):
            mirrored = _MIRRORED.get(f.check)
            if mirrored is None:
                continue
            what = f.summary.removeprefix(f"{name}: ").removeprefix(f"{name} ")  # capacity starts with the name
            out.append(finding(
                mirrored, parent.id, rep.replica.id, f"{parent.name} replica {name} ({rep.replica.location}): {what}",
                {"replica": rep.replica.name, "location": rep.replica.location, "units": rep.replica.capacity,
                 **f.evidence}, severity=f.severity,
            ))
    return out


register(Rule(
    RULE, (UTILISATION, THROTTLED, SERVER_LOAD), check,
    doc="per Premium resource with replicas: each replica judged on its own metrics (read in the same batch "
        "metrics calls, in batches of their own resource type) and reported under its parent.",
))
