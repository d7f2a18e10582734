"""Tier facts from AZURE-FACTS "Tiers, caps, units": connections per unit and allowed unit counts.

The live `list_skus` answer (`Observation.allowed_capacities`) wins; the table is the fallback for
when that call failed or the SKU is new to us.
"""
from __future__ import annotations

from dataclasses import dataclass

from watchdog.checks._common import series
from watchdog.models import Observation
from watchdog.models_resource import Resource

CONNECTIONS = "TotalConnectionCount:Maximum"
QUOTA = "ConnectionQuotaUtilization:Maximum"

_UP_TO_100 = tuple(range(1, 11)) + tuple(range(20, 101, 10))

# SKU name (lower case) -> (connections per unit, allowed capacity values)
_SKUS: dict[str, tuple[int, tuple[int, ...]]] = {
    "free_f1": (20, (1,)),
    "standard_s1": (1_000, _UP_TO_100),
    "premium_p1": (1_000, _UP_TO_100),
    "premium_p2": (1_000, tuple(range(100, 1001, 100))),
}
# An unknown SKU name in a known tier: per-unit connections by tier.
_TIERS = {"free": 20, "standard": 1_000, "premium": 1_000}


def is_free(resource: Resource) -> bool:
    return resource.sku_tier.lower() == "free" or resource.sku_name.lower().startswith("free")


def connections_per_unit(resource: Resource) -> int | None:
    known = _SKUS.get(resource.sku_name.lower())
    if known:
        return known[0]
    return _TIERS.get(resource.sku_tier.lower())


def connection_cap(resource: Resource) -> int | None:
    per_unit = connections_per_unit(resource)
    return per_unit * max(resource.capacity, 1) if per_unit else None


def allowed_capacities(obs: Observation) -> tuple[int, ...]:
    if obs.allowed_capacities:
        return tuple(sorted(obs.allowed_capacities))
    known = _SKUS.get(obs.resource.sku_name.lower())
    return known[1] if known else ()


def next_capacity(obs: Observation, needed_connections: float) -> int | None:
    """Smallest allowed unit count above the current one whose cap exceeds `needed_connections`."""
    per_unit = connections_per_unit(obs.resource)
    if not per_unit:
        return None
    for units in allowed_capacities(obs):
        if units > obs.resource.capacity and units * per_unit > needed_connections:
            return units
    return None


@dataclass(frozen=True)
class Utilisation:
    """How full a resource was over the window: the capacity rule and the scale plan both judge by it."""

    peak_connections: float | None  # measured peak TotalConnectionCount, None without that metric
    connection_pct: float | None  # peak / cap, None without the metric or a known cap
    quota_pct: float | None  # peak ConnectionQuotaUtilization, the service's own figure
    cap: int | None  # units x connections per unit, None for an unknown tier

    @property
    def pct(self) -> float:
        """The larger of the two figures: either one alone is enough to judge."""
        return max(p for p in (self.connection_pct, self.quota_pct) if p is not None)

    @property
    def peak_or_derived(self) -> float:
        """The peak connection count; without the metric, what the quota percentage implies."""
        if self.peak_connections is not None:
            return self.peak_connections
        return self.pct * (self.cap or 0) / 100


def utilisation(obs: Observation) -> Utilisation | None:
    """Peak utilisation over the sweep window; None when no figure can be computed."""
    cap = connection_cap(obs.resource)
    peak = max((v for _, v in series(obs.metrics, CONNECTIONS)), default=None)
    quota = max((v for _, v in series(obs.metrics, QUOTA)), default=None)
    conn_pct = peak * 100 / cap if peak is not None and cap else None
    if conn_pct is None and quota is None:
        return None
    return Utilisation(peak, conn_pct, quota, cap)
