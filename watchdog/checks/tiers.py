"""Tier facts from AZURE-FACTS "Tiers, caps, units": connections per unit and allowed unit counts.

The live `list_skus` answer (`Observation.allowed_capacities`) wins; the table is the fallback for
when that call failed or the SKU is new to us.
"""
from __future__ import annotations

from watchdog.models import Observation, Resource

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
