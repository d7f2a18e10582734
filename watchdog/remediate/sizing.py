"""How busy a resource is and how many units it should have: pure arithmetic on an Observation.

Utilisation is judged exactly as the capacity rule judges it (peak TotalConnectionCount against
units x connections per unit, or the service's own ConnectionQuotaUtilization, whichever is
higher), so a plan never disagrees with the finding it answers.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from typing import TYPE_CHECKING

from watchdog import tags
from watchdog.checks import tiers
from watchdog.models import Observation

if TYPE_CHECKING:
    from watchdog.settings import Settings


@dataclass(frozen=True)
class Load:
    peak_connections: float  # measured, or derived from the quota percentage
    utilisation_pct: float
    cap: int


def load(obs: Observation) -> Load | None:
    """Peak load over the sweep window; None when there is no connection metric to judge by."""
    util = tiers.utilisation(obs)
    if util is None or not util.cap:
        return None
    # Without a connection count, the quota percentage tells us the peak just as well.
    return Load(util.peak_or_derived, util.pct, util.cap)


def budget(obs: Observation, settings: Settings) -> int:
    """Most units the watchdog may scale to. Raises ValueError naming the tag when it is malformed:
    a budget we cannot read must stop the action, not silently fall back to a larger one."""
    raw = obs.resource.tags.get(tags.MAX_UNITS)
    if raw is None:
        return settings.max_units
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"tag {tags.MAX_UNITS}={raw!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"tag {tags.MAX_UNITS}={value} is below 1")
    return value


def scale_out_units(obs: Observation, peak: float, target_pct: int) -> int | None:
    """Smallest allowed unit count above the current one that brings `peak` under `target_pct`;
    the largest allowed one when none does; None when the SKU allows nothing larger."""
    wanted = tiers.next_capacity(obs, peak * 100 / target_pct)
    if wanted is not None:
        return wanted
    larger = [u for u in tiers.allowed_capacities(obs) if u > obs.resource.capacity]
    return max(larger) if larger else None


def within_budget(obs: Observation, wanted: int, most: int) -> int | None:
    """`wanted` if the budget allows it, else the largest allowed step above the current count
    that fits; None when even the next step is over budget."""
    if wanted <= most:
        return wanted
    fits = [u for u in tiers.allowed_capacities(obs) if obs.resource.capacity < u <= most]
    return max(fits) if fits else None


def scale_in_units(obs: Observation, peak: float, settings: Settings) -> int | None:
    """Smallest allowed unit count below the current one, not below WATCHDOG_MIN_UNITS, that keeps
    `peak` at or under the scale target (so the next sweep will not want to scale straight back
    out); None when no smaller count qualifies."""
    per_unit = tiers.connections_per_unit(obs.resource)
    if not per_unit:
        return None
    for units in tiers.allowed_capacities(obs):
        if settings.min_units <= units < obs.resource.capacity and peak * 100 <= units * per_unit * settings.scale_target_pct:
            return units
    return None


def next_low_since(obs: Observation, settings: Settings, previous: datetime | None, now: datetime) -> datetime | None:
    """Scale-in hysteresis bookkeeping: when utilisation first went (and stayed) below
    WATCHDOG_SCALE_IN_BELOW_PCT. Missing metrics reset it: staying low must be seen, not assumed."""
    current = load(obs)
    if current is None or current.utilisation_pct >= settings.scale_in_below_pct:
        return None
    return previous or now
