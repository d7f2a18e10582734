"""Which sources a sweep actually read for each resource (Observation.covered).

A finding resolves only when every source its check `needs` is in its resource's coverage
(watchdog/notify/lifecycle.py): a failed or deferred read is not coverage, so a blind sweep
keeps what it cannot see firing instead of calling it resolved.
"""
from __future__ import annotations

from typing import Iterable

from watchdog.checks.registry import Source
from watchdog.models import Observation, ObservationError

# ObservationError.source -> the Sources it blinds. hubs feed the probes, diagnostics the log
# queries; a failed data-plane proof leaves the secret's verdict unknown.
BLINDS: dict[str, frozenset[Source]] = {
    "inventory": frozenset(Source),
    "skus": frozenset({Source.INVENTORY}),
    "metrics": frozenset({Source.METRICS}),
    "logs": frozenset({Source.LOGS}),
    "keys": frozenset({Source.KEYS}),
    "secrets": frozenset({Source.SECRETS}),
    "dataplane": frozenset({Source.SECRETS}),
    "handlers": frozenset({Source.PROBES}),
    "hubs": frozenset({Source.HUBS, Source.PROBES}),
    "diagnostics": frozenset({Source.DIAGNOSTICS, Source.LOGS}),
    "autoscale": frozenset({Source.AUTOSCALE}),
}


def blinded(errors: Iterable[ObservationError]) -> set[Source]:
    return {s for e in errors for s in BLINDS.get(e.source, ())}


def covered(obs: Observation, general: Iterable[ObservationError] = ()) -> frozenset[str]:
    """The sources read for `obs` this sweep: every one minus those its own errors, a sweep-wide
    error of the same source (a vault or workspace: conservatively every resource) or missing
    data (None: never read) leave unknown."""
    missing = blinded([*obs.errors, *general])
    if obs.metrics is None:
        missing.add(Source.METRICS)
    if obs.diagnostics is None:
        missing |= {Source.DIAGNOSTICS, Source.LOGS}
    if obs.log_errors is None and obs.diagnostics is not None and obs.diagnostics.workspace_ids:
        missing.add(Source.LOGS)
    if obs.autoscale is None:
        missing.add(Source.AUTOSCALE)
    return frozenset(str(s) for s in Source if s not in missing)
