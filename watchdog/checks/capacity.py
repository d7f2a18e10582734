"""capacity: how close each resource is to its connection cap, and whether it is already refusing.

Utilisation is the larger of peak TotalConnectionCount:Maximum / (units x connections per unit)
and peak ConnectionQuotaUtilization:Maximum: the first needs our tier table, the second is the
service's own figure, so either one alone is enough to judge. No data points at all gives an
`info` finding ("not judged") rather than silence, unless the metrics call itself failed (that is
already a blind-spot finding).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Mapping

from watchdog import tags
from watchdog.checks import tiers
from watchdog.checks._common import close_count, finding, label, pct, series
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.checks.tiers import CONNECTIONS, QUOTA
from watchdog.config import Setting
from watchdog.models import Finding, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "capacity"
SCALE = "scale"  # the remediation kind that answers a resource near its cap
SERVER_LOAD = "ServerLoad:Maximum"
OUTBOUND = "OutboundTraffic:Total"

FREE_MESSAGES_PER_DAY = 20_000
MESSAGE_BYTES = 2_048  # billing counts outbound traffic in 2 KB messages
MIN_TREND_POINTS = 3

_FREE_UPGRADE = (
    "Upgrade to Standard_S1 (1,000 connections and 1,000,000 messages per unit per day), e.g. "
    "`az webpubsub update -g <rg> -n {name} --sku Standard_S1 --unit-count 1`, at a quiet moment. "
    "The watchdog will not do this by itself: moving between Free and Standard/Premium changes the "
    "resource's public IP and DNS takes 30-60 minutes to follow, so clients may fail to connect meanwhile."
)


SETTINGS = (
    Setting("WATCHDOG_CAPACITY_WARN_PCT", "80", "Connection utilisation (% of cap) that raises a warning."),
    Setting("WATCHDOG_CAPACITY_CRIT_PCT", "90", "Connection utilisation (% of cap) that is critical."),
    Setting("WATCHDOG_SERVER_LOAD_WARN_PCT", "70", "ServerLoad (%) that raises a warning."),
)
_METRICS = frozenset({Source.INVENTORY, Source.METRICS})
UTILISATION = Check(
    RULE, "utilisation", Severity.WARNING,
    "utilisation ≥ `WATCHDOG_CAPACITY_WARN_PCT` (80) / `WATCHDOG_CAPACITY_CRIT_PCT` (90), or the "
    "`watchdog-capacity-warn`/`-crit` tags. Guidance names the next allowed unit count (live `list_skus` values, "
    "else the tier table) that brings the peak under `WATCHDOG_SCALE_TARGET_PCT`, or the autoscale setting to adjust",
    _METRICS, SCALE, also=(Severity.CRITICAL,))
FREE_AT_CAP = Check(
    RULE, "free-at-cap", Severity.CRITICAL,
    "a Free_F1 resource at 100%: upgrade guidance, and why the watchdog never does it (Free ↔ Standard/Premium "
    "changes the public IP; DNS takes 30–60 min)", _METRICS, SCALE)
THROTTLED = Check(
    RULE, "throttled", Severity.CRITICAL,
    "any `ConnectionCloseCount` with `ConnectionCloseCategory=Throttled`: connections are being refused now",
    _METRICS, SCALE)
SERVER_LOAD_HIGH = Check(
    RULE, "server-load", Severity.WARNING, "peak `ServerLoad` ≥ `WATCHDOG_SERVER_LOAD_WARN_PCT` (70)", _METRICS,
    guidance="High server load delays messages even below the connection cap. Reduce message rate or size "
             "(large broadcasts), or scale out one allowed unit step.")
FREE_MESSAGE_QUOTA = Check(
    RULE, "free-message-quota", Severity.WARNING,
    "Free tier `OutboundTraffic` in the window, counted in 2 KB messages and extrapolated to a day, reaches 20,000",
    _METRICS)
NO_DATA = Check(
    RULE, "no-data", Severity.INFO,
    "no data point for either connection metric: capacity is *not judged* (said out loud rather than reported "
    "healthy). Skipped when the metrics call failed, which is a blind-spot instead", _METRICS,
    guidance="Nothing to do if the resource is new or idle. If it has clients, check that the watchdog's "
             "identity has Monitoring Reader and that the resource is emitting metrics.")
BAD_THRESHOLD_TAG = Check(
    RULE, "bad-threshold-tag", Severity.INFO,
    "a threshold tag is not a whole number 1–100 or warn > crit: the settings apply", frozenset({Source.INVENTORY}),
    guidance=f"Set {tags.CAPACITY_WARN} and {tags.CAPACITY_CRIT} to whole percentages, warn <= crit, or remove them.")


def _tag_pct(resource_tags: Mapping[str, str], name: str) -> int | None:
    raw = resource_tags.get(name)
    if raw is None:
        return None
    value = int(raw.strip().rstrip("%"))  # ValueError handled by the caller
    if not 1 <= value <= 100:
        raise ValueError(name)
    return value


def thresholds(obs: Observation, settings: Settings) -> tuple[int, int, str | None]:
    """(warn %, crit %, problem). A bad tag falls back to the settings and says why."""
    try:
        warn = _tag_pct(obs.resource.tags, tags.CAPACITY_WARN)
        crit = _tag_pct(obs.resource.tags, tags.CAPACITY_CRIT)
    except ValueError:
        return settings.capacity_warn_pct, settings.capacity_crit_pct, "not a whole number from 1 to 100"
    warn = settings.capacity_warn_pct if warn is None else warn
    crit = settings.capacity_crit_pct if crit is None else crit
    if warn > crit:
        return settings.capacity_warn_pct, settings.capacity_crit_pct, f"warn {warn}% is above crit {crit}%"
    return warn, crit, None


def minutes_to_limit(points: list[tuple[datetime, float]], limit: float, now: datetime) -> float | None:
    """Least-squares linear trend of `points`: minutes from `now` until it reaches `limit`.

    None when there are too few points, the trend is flat or falling, or the limit is already hit.
    """
    if len(points) < MIN_TREND_POINTS:
        return None
    t0 = points[0][0]
    xs = [(t - t0) / timedelta(minutes=1) for t, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    if slope <= 0:
        return None
    now_x = (now - t0) / timedelta(minutes=1)
    level_now = my + slope * (now_x - mx)
    if level_now >= limit:
        return None
    return (limit - level_now) / slope


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    res, metrics = obs.resource, obs.metrics
    window = metrics.window_minutes if metrics else settings.window_minutes
    warn, crit, tag_problem = thresholds(obs, settings)
    out: list[Finding] = []
    if tag_problem:
        out.append(finding(
            BAD_THRESHOLD_TAG, res.id, res.id,
            f"{label(res)}: capacity threshold tags ignored ({tag_problem}); using {warn}%/{crit}%",
            {"tag_warn": res.tags.get(tags.CAPACITY_WARN), "tag_crit": res.tags.get(tags.CAPACITY_CRIT),
             "warn_pct": warn, "crit_pct": crit},
        ))

    conns, quota = series(metrics, CONNECTIONS), series(metrics, QUOTA)
    util = tiers.utilisation(obs)
    if util is not None:
        out.extend(_utilisation(obs, settings, now, util, conns, quota, warn, crit, window))
    elif not (conns or quota) and not any(e.source == "metrics" for e in obs.errors):
        out.append(finding(
            NO_DATA, res.id, CONNECTIONS,
            f"{label(res)}: no connection metrics in the last {window} min, capacity not judged",
            {"missing": [k for k in (CONNECTIONS, QUOTA) if not (metrics and metrics.series.get(k))],
             "window_minutes": window},
        ))

    throttled = close_count(metrics, "Throttled")
    if throttled > 0:
        out.append(finding(
            THROTTLED, res.id, "ConnectionCloseCount:Throttled",
            f"{label(res)}: {throttled:,.0f} connections closed as Throttled in {window} min: "
            "the service is refusing connections at its cap now",
            {"throttled_closes": throttled, "window_minutes": window, **_size(obs)},
            guidance=_grow_guidance(obs, settings, max((v for _, v in conns), default=0.0)),
        ))

    load = series(metrics, SERVER_LOAD)
    peak_load = max((v for _, v in load), default=None)
    if peak_load is not None and peak_load >= settings.server_load_warn_pct:
        out.append(finding(
            SERVER_LOAD_HIGH, res.id, SERVER_LOAD,
            f"{label(res)}: ServerLoad peaked at {pct(peak_load)} (warning at {settings.server_load_warn_pct}%) "
            f"over {window} min",
            {"peak_server_load_pct": peak_load, "warn_pct": settings.server_load_warn_pct,
             "window_minutes": window, **_size(obs)},
        ))

    if tiers.is_free(res):
        out.extend(_free_messages(obs, window))
    return out


def _size(obs: Observation) -> dict[str, Any]:
    res = obs.resource
    return {"sku": res.sku_name, "units": res.capacity, "cap": tiers.connection_cap(res)}


def _grow_guidance(obs: Observation, settings: Settings, peak: float) -> str:
    res = obs.resource
    if tiers.is_free(res):
        return _FREE_UPGRADE.format(name=res.name)
    if obs.autoscale:
        return ("An autoscale setting manages this resource (" + ", ".join(obs.autoscale) + "): raise its "
                "maximum or make its scale-out rule react sooner. The watchdog will not scale it.")
    per_unit = tiers.connections_per_unit(res) or 0
    units = tiers.next_capacity(obs, peak * 100 / settings.scale_target_pct)
    if units is not None:
        return (f"Scale to {units} units (cap {units * per_unit:,} connections), the smallest allowed step that "
                f"brings the peak under {settings.scale_target_pct}%. The watchdog does this when "
                f"WATCHDOG_SCALE=on (now '{settings.scale}') and utilisation reaches "
                f"{settings.scale_threshold_pct}%, within the {tags.MAX_UNITS} / WATCHDOG_MAX_UNITS budget.")
    largest = max(tiers.allowed_capacities(obs), default=res.capacity)
    beyond = ("Move to Premium_P2 (100-1,000 units) or spread clients over more resources or replicas."
              if res.sku_name.lower() != "premium_p2" else "Spread clients over more resources or replicas.")
    if largest > res.capacity:
        return (f"Scale to {largest} units (cap {largest * per_unit:,} connections), the most {res.sku_name} "
                f"allows; even that stays above {settings.scale_target_pct}% at this peak. {beyond}")
    return f"Already at the most units {res.sku_name} allows ({res.capacity}). {beyond}"


def _utilisation(
    obs: Observation, settings: Settings, now: datetime, load: tiers.Utilisation, conns: list[tuple[datetime, float]],
    quota: list[tuple[datetime, float]], warn: int, crit: int, window: int,
) -> list[Finding]:
    res = obs.resource
    cap, peak, conn_pct, quota_pct, util = load.cap, load.peak_connections, load.connection_pct, load.quota_pct, load.pct
    eta = minutes_to_limit(conns, cap, now) if conns and cap else minutes_to_limit(quota, 100.0, now)
    evidence = {
        "peak_connections": peak, "connection_utilisation_pct": conn_pct, "quota_utilisation_pct": quota_pct,
        "utilisation_pct": util, "warn_pct": warn, "crit_pct": crit, "points": len(conns) or len(quota),
        "window_minutes": window, "minutes_to_cap": eta, **_size(obs),
    }
    if eta is not None:
        evidence["cap_eta"] = (now + timedelta(minutes=eta)).isoformat(timespec="minutes")
    trend = f"; cap in ~{math.ceil(eta)} min at the current trend" if eta is not None else ""
    peak_text = f"{peak:,.0f} of {cap:,} connections" if peak is not None and cap else "connection quota"
    summary = (f"{label(res)} peaked at {peak_text} ({pct(util)}, {res.capacity} unit(s) {res.sku_name}) "
               f"over {window} min{trend}")
    if tiers.is_free(res) and util >= 100:
        return [finding(FREE_AT_CAP, res.id, CONNECTIONS, summary, evidence,
                        guidance=_FREE_UPGRADE.format(name=res.name))]
    if util >= crit:
        severity = Severity.CRITICAL
    elif util >= warn:
        severity = Severity.WARNING
    else:
        return []
    return [finding(UTILISATION, res.id, CONNECTIONS, summary, evidence, severity=severity,
                    guidance=_grow_guidance(obs, settings, load.peak_or_derived))]


def _free_messages(obs: Observation, window: int) -> list[Finding]:
    res = obs.resource
    points = series(obs.metrics, OUTBOUND)
    if not points:
        return []
    sent = sum(v for _, v in points)
    messages = math.ceil(sent / MESSAGE_BYTES)
    per_day = messages * (24 * 60) / max(window, 1)
    if per_day < FREE_MESSAGES_PER_DAY:
        return []
    return [finding(
        FREE_MESSAGE_QUOTA, res.id, OUTBOUND,
        f"Free tier {label(res)} sent {messages:,} messages (2 KB each) in {window} min: "
        f"~{per_day:,.0f}/day at this rate, over the {FREE_MESSAGES_PER_DAY:,}/day quota",
        {"outbound_bytes": sent, "messages": messages, "projected_per_day": per_day,
         "quota_per_day": FREE_MESSAGES_PER_DAY, "window_minutes": window},
        guidance="Past the quota the service drops messages ('Message count reaches limit'). Cut outbound volume "
                 "(upstream webhook calls and live trace count too), or: " + _FREE_UPGRADE.format(name=res.name),
    )]


register(Rule(
    RULE, (UTILISATION, FREE_AT_CAP, THROTTLED, SERVER_LOAD_HIGH, FREE_MESSAGE_QUOTA, NO_DATA, BAD_THRESHOLD_TAG),
    check,
    doc="per resource over the sweep window (`WATCHDOG_WINDOW_MINUTES`). The cap is units × connections per unit "
        "(Free_F1 20; Standard_S1, Premium_P1, Premium_P2 1,000); utilisation is the larger of peak "
        "`TotalConnectionCount` (Maximum) / cap and peak `ConnectionQuotaUtilization`, so either metric alone is "
        "enough. A least-squares trend of the connection count projects when the cap will be reached; the minutes "
        "and time go into the summary and evidence.",
))
