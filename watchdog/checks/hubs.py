"""hubs: clients connect, but does any event reach a server? Judged from the hub settings the sweep
already reads (cached between sweeps) and the metrics it already reads (TotalConnectionCount, and
ConnectionCloseCount by ConnectionCloseCategory): no extra call.

Web PubSub metrics carry no hub dimension, so "clients connect to it" is the resource's connections.
Unknown hub settings (a failed or deferred read: a blind spot already) or missing metrics say nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from watchdog.checks._common import close_count, finding, label, series
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.models import Finding, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "hubs"
NOT_FOUND = "EventHandlerNotFound"  # the ConnectionCloseCategory of an event no handler takes
CONNECTIONS = "TotalConnectionCount:Maximum"

NONE = Check(
    RULE, "none", Severity.WARNING,
    "clients are connected but the resource has no hub settings at all: no event reaches a server",
    frozenset({Source.INVENTORY, Source.HUBS, Source.METRICS}),
    guidance="Add a hub setting with an event handler (Settings > Add hub) for each hub your clients use, if "
             "a server should see connect, message or disconnect events.",
)
NO_HANDLER = Check(
    RULE, "no-handler", Severity.WARNING,
    "a hub has no event handler while connections close as EventHandlerNotFound (info: while clients connect)",
    frozenset({Source.INVENTORY, Source.HUBS, Source.METRICS}),
    guidance="Add an event handler to the hub (URL template, user event pattern, system events), or remove the "
             "hub setting if no server should receive its events.",
    also=(Severity.INFO,),
)
SYSTEM_EVENTS = Check(
    RULE, "system-events", Severity.WARNING,
    "a hub has handlers but none takes the connect event while connections close as EventHandlerNotFound",
    frozenset({Source.INVENTORY, Source.HUBS, Source.METRICS}),
    guidance="Add connect to a handler's system events (the service only sends the system events listed), "
             "or stop clients relying on a connect response; connected/disconnected need no connect handler.",
)


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    res = obs.resource
    if obs.hubs is None or obs.metrics is None:
        return []
    connections = max((v for _, v in series(obs.metrics, CONNECTIONS)), default=0.0)
    not_found = close_count(obs.metrics, NOT_FOUND)
    if not connections and not not_found:
        return []
    evidence = {"max_connections": connections, "event_handler_not_found_closes": not_found}
    if not obs.hubs:
        return [finding(NONE, res.id, res.id,
                        f"{label(res)} has up to {connections:.0f} connections but no hub settings", evidence)]
    out: list[Finding] = []
    by_hub: dict[str, list[tuple[str, ...]]] = {hub: [] for hub in obs.hubs}
    for h in obs.handlers:
        by_hub.setdefault(h.hub, []).append(tuple(e.lower() for e in h.system_events))
    for hub, events in sorted(by_hub.items()):
        subject = f"{res.id}/hubs/{hub}"
        if not events:
            severity = Severity.WARNING if not_found else Severity.INFO
            why = f"{not_found:.0f} EventHandlerNotFound closes" if not_found else f"{connections:.0f} connections"
            out.append(finding(NO_HANDLER, res.id, subject, f"{label(res)}: hub {hub} has no event handler ({why})",
                               {"hub": hub, **evidence}, severity=severity))
        elif not_found and not any("connect" in e for e in events):
            out.append(finding(
                SYSTEM_EVENTS, res.id, subject,
                f"{label(res)}: no handler of hub {hub} takes connect while {not_found:.0f} connections closed as "
                "EventHandlerNotFound", {"hub": hub, "system_events": sorted({e for es in events for e in es}),
                                         **evidence}))
    return out


register(Rule(
    RULE, (NONE, NO_HANDLER, SYSTEM_EVENTS), check,
    doc="per resource, from the hub settings (read once, cached until the activity log shows a change) and "
        "the metrics every sweep reads.",
))
