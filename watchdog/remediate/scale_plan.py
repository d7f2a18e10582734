"""Scale policy (pure): when to scale out or in, to how many units, and the guards that say no.

Utilisation is judged exactly as the capacity rule judges it (`sizing.load`), so a plan never
disagrees with the finding it answers; a critical finding whose check declares the `scale`
remedy (utilisation, throttled, free-at-cap) makes scaling out urgent whatever the threshold.
"""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from watchdog import tags
from watchdog.checks import capacity, tiers
from watchdog.checks._common import label, pct
from watchdog.checks.registry import remedy
from watchdog.models import Action, Finding, Observation, ScaleParams, Severity
from watchdog.remediate import guards, sizing
from watchdog.remediate._common import skip
from watchdog.remediate.registry import PlanContext

if TYPE_CHECKING:
    from watchdog.remediate.plan import Plan

SCALE = capacity.SCALE
SCALE_IN = "scale-in"
CAPACITY_SUBJECT = "capacity"


def _action(obs: Observation, kind: str, to: int, reason: str, finding: Finding | None) -> Action:
    res = obs.resource
    return Action(kind=kind, resource_id=res.id, subject=CAPACITY_SUBJECT, reason=reason,
                  params=ScaleParams({"sku": res.sku_name, "from": res.capacity, "to": to}),
                  finding=finding.fingerprint if finding else None)


def _common_guards(obs: Observation, ctx: PlanContext) -> tuple[str, str] | None:
    """The guards every scale shares, in order of how fundamental they are: (guard, reason)."""
    res, settings, fact, now = obs.resource, ctx.settings, ctx.fact, ctx.now
    if res.provisioning_state.lower() != "succeeded":
        return guards.PROVISIONING, f"{label(res)} is {res.provisioning_state}, not Succeeded: another change is under way"
    if obs.autoscale:
        return guards.AUTOSCALE, (f"autoscale setting {', '.join(obs.autoscale)} manages {label(res)}: change its "
                                  "rules instead; the watchdog never scales against it")
    if fact.last_scaled is not None:
        until = fact.last_scaled + timedelta(minutes=settings.scale_cooldown_minutes)
        if now < until:
            left = (until - now) / timedelta(minutes=1)
            return guards.COOLDOWN, (f"scaled at {fact.last_scaled.isoformat(timespec='minutes')}: cooldown of "
                                     f"{settings.scale_cooldown_minutes} min has {left:.0f} min left")
    return None


def plan_out(obs: Observation, findings: list[Finding], ctx: PlanContext, out: Plan) -> None:
    """Plans (or skips) a scale-out when one is called for at all."""
    res, settings = obs.resource, ctx.settings
    answered = [f for f in findings if remedy(f) == SCALE]
    urgent = next((f for f in answered if f.severity == Severity.CRITICAL), None)
    current = sizing.load(obs)
    if current is None and urgent is None:
        return
    if urgent is None and current.utilisation_pct < settings.scale_threshold_pct:
        return
    # Throttled without a connection metric: the service is refusing at its cap, so the peak is the cap.
    cap = tiers.connection_cap(res) or 0
    peak = current.peak_connections if current else float(cap)
    util = current.utilisation_pct if current else 100.0
    why = (f"{label(res)} peaked at {peak:,.0f} of {cap:,} connections ({pct(util)}) on {res.capacity} unit(s) "
           f"{res.sku_name}" + (f", {urgent.check} is critical" if urgent else
                                f", at or above the {settings.scale_threshold_pct}% scale threshold"))

    def refuse(to: int, guard: str, reason: str) -> None:
        skip(out, _action(obs, SCALE, to, why, urgent), guard, reason)

    if tiers.is_free(res):
        # Never automatic: leaving Free changes the public IP (DNS takes 30-60 min to follow).
        guidance = next((f.guidance for f in answered if f.guidance), "Upgrade to Standard_S1 by hand at a quiet moment.")
        return refuse(res.capacity, guards.FREE, f"Free tier cannot add units. {guidance}")
    if res.sku_tier.lower() not in ("standard", "premium"):
        return refuse(res.capacity, guards.TIER,
                      f"tier {res.sku_tier!r} is not Standard or Premium: the watchdog scales only those")
    wanted = sizing.scale_out_units(obs, peak, settings.scale_target_pct)
    if wanted is None:
        return refuse(res.capacity, guards.SKU_MAX,
                      f"{res.sku_name} allows no more than {res.capacity} units: move to a larger SKU or spread the clients")
    guard = _common_guards(obs, ctx)
    if guard:
        return refuse(wanted, *guard)
    try:
        most = sizing.budget(obs, settings)
    except ValueError as exc:
        return refuse(wanted, guards.BUDGET, f"{exc}: fix or remove the tag")
    to = sizing.within_budget(obs, wanted, most)
    if to is None:
        return refuse(wanted, guards.BUDGET,
                      f"{wanted} units would exceed the budget of {most} ({tags.MAX_UNITS} / WATCHDOG_MAX_UNITS) and "
                      f"no allowed step above {res.capacity} fits it")
    after = peak * 100 / (to * (tiers.connections_per_unit(res) or 1))
    how = (f"; scale to {to} units, the smallest allowed step bringing the peak under "
           f"{settings.scale_target_pct}% ({pct(after)})" if to == wanted else
           f"; scale to {to} units, capped by the budget of {most} ({wanted} would reach "
           f"{settings.scale_target_pct}%), leaving {pct(after)}")
    out.actions.append(_action(obs, SCALE, to, why + how, urgent))


def plan_in(obs: Observation, findings: list[Finding], ctx: PlanContext, out: Plan) -> None:
    res, settings, fact, now = obs.resource, ctx.settings, ctx.fact, ctx.now
    if any(o.kind == SCALE and o.resource_id == res.id for o in out.kinds_planned()):
        return  # scaling out was called for: never in the same sweep
    current = sizing.load(obs)
    if current is None or fact.low_since is None or tiers.is_free(res):
        return
    low_for = (now - fact.low_since) / timedelta(minutes=1)
    if current.utilisation_pct >= settings.scale_in_below_pct or low_for < settings.scale_in_after_minutes:
        return
    to = sizing.scale_in_units(obs, current.peak_connections, settings)
    if to is None:
        return
    why = (f"{label(res)} stayed below {settings.scale_in_below_pct}% for {low_for:.0f} min (peak "
           f"{current.peak_connections:,.0f} of {current.cap:,}, {pct(current.utilisation_pct)}); scale in to {to} "
           f"units, the fewest keeping the peak under {settings.scale_target_pct}% (minimum {settings.min_units})")
    action = _action(obs, SCALE_IN, to, why, None)
    guard = _common_guards(obs, ctx)
    if guard:
        skip(out, action, *guard)
    else:
        out.actions.append(action)
