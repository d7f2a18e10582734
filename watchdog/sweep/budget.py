"""Which cold hubs and diagnostic-settings reads a sweep makes within ARM's read budget.

A big subscription's first sweep cannot read every resource's hubs and diagnostics before the
sweep deadline: the reads ARM's rate limiter lets through in COLD_READ_SHARE of the time left are
made, the others deferred to the next sweeps (each with a `deferred` error), so the ledger's cache
fills over several sweeps instead of running the first one past the function timeout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from watchdog.azure import AzureClients
from watchdog.models import ErrorKind, ObservationError
from watchdog.models_resource import Resource
from watchdog.throttle import ARM_READ

# Cold hubs and diagnostics reads get at most this share of the time left before the sweep
# deadline: the secret reads, proofs, probes, log queries and listKeys that follow need the rest
# (about 140 s at 5,000 resources with warm caches).
COLD_READ_SHARE = 0.5
# ARM reads the first wave makes besides hubs and diagnostics (SKU lists; autoscale, metric alert,
# site pages per subscription).
OTHER_READS = 10


DEFERRED_MESSAGE = ("deferred to a later sweep: ARM's read budget until the sweep deadline "
                    "(WATCHDOG_SWEEP_DEADLINE_SECONDS) went to other resources")


@dataclass(frozen=True)
class ColdReads:
    hubs: dict[str, Resource]  # by lower-case id: read this sweep
    diagnostics: dict[str, Resource]
    deferred: list[tuple[str, Resource]]  # (source, resource) left to a later sweep

    def errors(self) -> list[ObservationError]:
        return [ObservationError(source, ErrorKind.DEFERRED, DEFERRED_MESSAGE, resource_id=resource.id)
                for source, resource in self.deferred]


def read_budget(clients: AzureClients, resources: Iterable[Resource]) -> dict[str, int] | None:
    """ARM reads per lower-case subscription left for hubs and diagnostics before the sweep
    deadline; None without a deadline (no limit)."""
    if clients.deadline is None:
        return None
    seconds = (clients.deadline - clients.limiter.now()) * COLD_READ_SHARE
    return {sub: clients.limiter.affordable(sub, ARM_READ, seconds) - OTHER_READS
            for sub in {r.subscription_id.lower() for r in resources}}


def select_cold_reads(need_hubs: Mapping[str, Resource], need_diags: Mapping[str, Resource],
                      budget: Mapping[str, int] | None) -> ColdReads:
    """The reads `budget` (reads per lower-case subscription, None: no limit) affords: hubs alone
    first (warm resources whose templates the ledger may not keep: read every sweep), then cold
    resources in id order, so each sweep goes on where the last one stopped. A resource is read
    whole (hubs and diagnostics) or deferred whole."""
    if budget is None:
        return ColdReads(dict(need_hubs), dict(need_diags), [])
    left = dict(budget)
    hubs: dict[str, Resource] = {}
    diags: dict[str, Resource] = {}
    deferred: list[tuple[str, Resource]] = []
    for rid in sorted(need_hubs.keys() | need_diags.keys(), key=lambda rid: (rid in need_diags, rid)):
        resource = need_hubs.get(rid) or need_diags[rid]
        sub = resource.subscription_id.lower()
        cost = (rid in need_hubs) + (rid in need_diags)
        if left.get(sub, 0) >= cost:
            left[sub] -= cost
            if rid in need_hubs:
                hubs[rid] = resource
            if rid in need_diags:
                diags[rid] = resource
            continue
        deferred += [(source, resource) for source, needed in (("hubs", need_hubs), ("diagnostics", need_diags))
                     if rid in needed]
    return ColdReads(hubs, diags, deferred)


def select_replica_reads(need: Iterable[Resource], budget: Mapping[str, int] | None,
                         cold: ColdReads) -> tuple[list[Resource], list[ObservationError]]:
    """Replica lists (one ARM read per Premium resource whose cache entry lacks them) within what
    `budget` leaves after the cold hubs and diagnostics reads, in id order; the rest deferred."""
    need = sorted(need, key=lambda r: r.id.lower())
    if budget is None:
        return need, []
    left = dict(budget)
    for r in [*cold.hubs.values(), *cold.diagnostics.values()]:
        left[r.subscription_id.lower()] = left.get(r.subscription_id.lower(), 0) - 1
    chosen: list[Resource] = []
    deferred: list[ObservationError] = []
    for r in need:
        sub = r.subscription_id.lower()
        if left.get(sub, 0) >= 1:
            left[sub] -= 1
            chosen.append(r)
        else:
            deferred.append(ObservationError("replicas", ErrorKind.DEFERRED, DEFERRED_MESSAGE, resource_id=r.id))
    return chosen, deferred
