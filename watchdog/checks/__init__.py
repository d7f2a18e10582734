"""diagnose: the pure judgement of a sweep. Observations in, findings out; no I/O.

The rules are the ones registered in `watchdog.checks.registry` (each module below registers
itself on import): every per-resource rule is `evaluate(obs, settings, now) -> list[Finding]`,
and blind-spot findings come from the errors collected along the way.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Iterable

# Each rule module registers itself on import; this order is the README's.
from watchdog.checks import key_drift  # noqa: F401, I001
from watchdog.checks import capacity  # noqa: F401
from watchdog.checks import upstream  # noqa: F401
from watchdog.checks import posture  # noqa: F401
from watchdog.checks import connectivity  # noqa: F401
from watchdog.checks import consumers  # noqa: F401
from watchdog.checks import rotation  # noqa: F401
from watchdog.checks import network  # noqa: F401
from watchdog.checks import hubs  # noqa: F401
from watchdog.checks import replicas  # noqa: F401
from watchdog.checks import blind_spots
from watchdog.checks.registry import rules
from watchdog.models import Finding, Observation, ObservationError

if TYPE_CHECKING:
    from watchdog.settings import Settings


def sort_key(f: Finding) -> tuple:
    return (-f.severity, f.resource_id.lower(), f.rule, f.check, f.subject.lower())


def diagnose(
    observations: Iterable[Observation],
    errors: Iterable[ObservationError],
    settings: Settings,
    now: datetime,
) -> list[Finding]:
    """All findings, most severe first, then by resource and rule. Errors from `errors` and from each
    observation's own `errors` become blind-spot findings (each distinct error once)."""
    observations = list(observations)
    findings: list[Finding] = []
    per_resource = [r for r in rules() if r.evaluate is not None]
    for obs in observations:
        for rule in per_resource:
            try:
                findings.extend(rule.evaluate(obs, settings, now))
            except Exception as exc:  # one odd resource must not stop the sweep; say so instead
                findings.append(blind_spots.rule_error(obs.resource.id, obs.resource.name, rule.name, exc))
    all_errors = list(dict.fromkeys([*errors, *(e for obs in observations for e in obs.errors)]))
    findings.extend(blind_spots.check_errors(all_errors, now, len(observations)))
    return sorted(findings, key=sort_key)
