"""diagnose: the pure judgement of a sweep. Observations in, findings out; no I/O.

Every rule is `check(obs, settings, now) -> list[Finding]` (a uniform signature, even where a rule
does not need `now`), plus blind-spot findings for the errors collected along the way.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable

from watchdog.checks import blind_spots, capacity, key_drift, posture, upstream
from watchdog.checks._common import finding
from watchdog.models import Finding, Observation, ObservationError, Severity
from watchdog.settings import Settings

Rule = Callable[[Observation, Settings, datetime], list[Finding]]
RULES: dict[str, Rule] = {
    key_drift.RULE: key_drift.check,
    capacity.RULE: capacity.check,
    upstream.RULE: upstream.check,
    posture.RULE: posture.check,
}


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
    for obs in observations:
        for name, rule in RULES.items():
            try:
                findings.extend(rule(obs, settings, now))
            except Exception as exc:  # one odd resource must not stop the sweep; say so instead
                findings.append(finding(
                    blind_spots.RULE, "rule-error", Severity.WARNING, obs.resource.id, name,
                    f"Rule {name} could not judge {obs.resource.name}: {type(exc).__name__}",
                    "This is a watchdog bug: report it with the sweep's JSON report.",
                    {"rule": name, "exception": type(exc).__name__},
                ))
    all_errors = list(dict.fromkeys([*errors, *(e for obs in observations for e in obs.errors)]))
    findings.extend(blind_spots.check_errors(all_errors, now))
    return sorted(findings, key=sort_key)
