"""Which sources a sweep actually read for each resource (Observation.covered).

A finding resolves only when every source its check `needs` is in its resource's coverage
(watchdog/notify/lifecycle.py): a failed or deferred read is not coverage, so a blind sweep
keeps what it cannot see firing instead of calling it resolved.
"""
from __future__ import annotations

from typing import Iterable

from watchdog.checks.registry import BLINDS, Source
from watchdog.models import ErrorKind, Observation, ObservationError

# Sources read from the resource's own ARM id: their 404 means the resource is gone.
_OF_THE_RESOURCE = ("hubs", "diagnostics", "keys", "skus")


def blinded(errors: Iterable[ObservationError]) -> set[Source]:
    return {s for e in errors for s in BLINDS.get(e.source, ())}


def covered(obs: Observation, general: Iterable[ObservationError] = ()) -> frozenset[str]:
    """The sources read for `obs` this sweep: every one minus those its own errors, a sweep-wide
    error of the same source (a vault or workspace: conservatively every resource) or missing
    data (None: never read) leave unknown."""
    missing = blinded([*obs.errors, *general])
    if any(e.kind == ErrorKind.NOT_FOUND and e.source in _OF_THE_RESOURCE for e in obs.errors):
        # ARM says the resource itself is gone (deleted between discovery and collection):
        # nothing about it is trusted until the next sweep confirms it deleted or lists it again.
        return frozenset()
    if any(s.proof is not None and s.proof.outcome == "unreachable" for s in obs.secrets):
        missing.add(Source.SECRETS)  # a stored key the service did not answer about is unjudged
    if obs.metrics is None:
        missing.add(Source.METRICS)
    if obs.diagnostics is None:
        missing |= {Source.DIAGNOSTICS, Source.LOGS}
    if obs.log_errors is None and obs.diagnostics is not None and obs.diagnostics.workspace_ids:
        missing.add(Source.LOGS)
    if obs.autoscale is None:
        missing.add(Source.AUTOSCALE)
    return frozenset(str(s) for s in Source if s not in missing)
