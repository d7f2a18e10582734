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
from typing import Any, Mapping

from watchdog import tags
from watchdog.checks import tiers
from watchdog.checks._common import close_count, finding, label, pct, series
from watchdog.models import Finding, Observation, Severity
from watchdog.settings import Settings

RULE = "capacity"
CONNECTIONS = "TotalConnectionCount:Maximum"
QUOTA = "ConnectionQuotaUtilization:Maximum"
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
            RULE, "bad-threshold-tag", Severity.INFO, res.id, res.id,
            f"{label(res)}: capacity threshold tags ignored ({tag_problem}); using {warn}%/{crit}%",
            f"Set {tags.CAPACITY_WARN} and {tags.CAPACITY_CRIT} to whole percentages, warn <= crit, or remove them.",
            {"tag_warn": res.tags.get(tags.CAPACITY_WARN), "tag_crit": res.tags.get(tags.CAPACITY_CRIT),
             "warn_pct": warn, "crit_pct": crit},
        ))

    conns, quota = series(metrics, CONNECTIONS), series(metrics, QUOTA)
    if conns or quota:
        out.extend(_utilisation(obs, settings, now, conns, quota, warn, crit, window))
    elif not any(e.source == "metrics" for e in obs.errors):
        out.append(finding(
            RULE, "no-data", Severity.INFO, res.id, CONNECTIONS,
            f"{label(res)}: no connection metrics in the last {window} min, capacity not judged",
            "Nothing to do if the resource is new or idle. If it has clients, check that the watchdog's "
            "identity has Monitoring Reader and that the resource is emitting metrics.",
            {"missing": [k for k in (CONNECTIONS, QUOTA) if not (metrics and metrics.series.get(k))],
             "window_minutes": window},
        ))

    throttled = close_count(metrics, "Throttled")
    if throttled > 0:
        out.append(finding(
            RULE, "throttled", Severity.CRITICAL, res.id, "ConnectionCloseCount:Throttled",
            f"{label(res)}: {throttled:,.0f} connections closed as Throttled in {window} min: "
            "the service is refusing connections at its cap now",
            _grow_guidance(obs, settings, max((v for _, v in conns), default=0.0)),
            {"throttled_closes": throttled, "window_minutes": window, **_size(obs)},
        ))

    load = series(metrics, SERVER_LOAD)
    peak_load = max((v for _, v in load), default=None)
    if peak_load is not None and peak_load >= settings.server_load_warn_pct:
        out.append(finding(
            RULE, "server-load", Severity.WARNING, res.id, SERVER_LOAD,
            f"{label(res)}: ServerLoad peaked at {pct(peak_load)} (warning at {settings.server_load_warn_pct}%) "
            f"over {window} min",
            "High server load delays messages even below the connection cap. Reduce message rate or size "
            "(large broadcasts), or scale out one allowed unit step.",
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
    obs: Observation, settings: Settings, now: datetime, conns: list[tuple[datetime, float]],
    quota: list[tuple[datetime, float]], warn: int, crit: int, window: int,
) -> list[Finding]:
    res = obs.resource
    cap = tiers.connection_cap(res)
    peak = max((v for _, v in conns), default=None)
    conn_pct = peak * 100 / cap if peak is not None and cap else None
    quota_pct = max((v for _, v in quota), default=None)
    util = max(p for p in (conn_pct, quota_pct) if p is not None)
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
        return [finding(RULE, "free-at-cap", Severity.CRITICAL, res.id, CONNECTIONS, summary,
                        _FREE_UPGRADE.format(name=res.name), evidence)]
    if util >= crit:
        severity = Severity.CRITICAL
    elif util >= warn:
        severity = Severity.WARNING
    else:
        return []
    return [finding(RULE, "utilisation", severity, res.id, CONNECTIONS, summary,
                    _grow_guidance(obs, settings, peak if peak is not None else util * (cap or 0) / 100),
                    evidence)]


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
        RULE, "free-message-quota", Severity.WARNING, res.id, OUTBOUND,
        f"Free tier {label(res)} sent {messages:,} messages (2 KB each) in {window} min: "
        f"~{per_day:,.0f}/day at this rate, over the {FREE_MESSAGES_PER_DAY:,}/day quota",
        "Past the quota the service drops messages ('Message count reaches limit'). Cut outbound volume "
        "(upstream webhook calls and live trace count too), or: " + _FREE_UPGRADE.format(name=res.name),
        {"outbound_bytes": sent, "messages": messages, "projected_per_day": per_day,
         "quota_per_day": FREE_MESSAGES_PER_DAY, "window_minutes": window},
    )]
