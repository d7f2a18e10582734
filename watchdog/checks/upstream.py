"""upstream: are the event handlers (the customer's webhooks) answering the service?

Three independent signals: connection closes the service blames on the upstream, handler errors
found in the resource logs (grouped by hub, event, status), and our own abuse-protection OPTIONS
probe of every configured handler. A failing `connect` handler rejects every client, so those log
groups are critical; everything else is a warning. A probe we refused to send (a handler on a
loopback, link-local or metadata address) is info.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from watchdog.checks._common import close_count, finding, label
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.models import Finding, HandlerLogError, HandlerProbe, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "upstream"

_CLOSES = {
    "SendEventFailed": (
        "the service could not deliver events to an event handler and closed the connections",
        "Check the handler's availability and its answers (5xx, timeouts) around these times; the "
        "upstream log errors and probe findings for this resource name the handler.",
    ),
    "EventHandlerNotFound": (
        "an event had no matching event handler, so the service closed the connections",
        "Add an event handler for the hub/event (hub settings: urlTemplate, userEventPattern, "
        "systemEvents), or stop clients sending events nobody handles.",
    ),
}

_PROBE_CAUSES = {
    "dns": "the host name does not resolve",
    "tls": "the TLS handshake failed (certificate or protocol)",
    "timeout": "it did not answer within the probe timeout",
    "connection": "the connection was refused or reset",
    "status": "it answered the validation request with a non-2xx status",
    "missing-allowed-origin": "its answer lacks WebHook-Allowed-Origin (* or the resource host)",
    "redirect": "it answered with a redirect, which the service does not follow",
}

_PROBE_FIX = {
    "dns": "Fix the handler's DNS name in the hub's event handler urlTemplate.",
    "tls": "Serve a valid, publicly trusted certificate on the handler host.",
    "timeout": "Make the handler answer the OPTIONS validation quickly (the service waits only seconds).",
    "connection": "Make sure the handler is running and reachable from Azure on that port.",
    "status": "Answer `OPTIONS` with 2xx and `WebHook-Allowed-Origin`; official SDK handlers do this.",
    "missing-allowed-origin": "Answer the OPTIONS validation with header WebHook-Allowed-Origin: * or the "
                              "resource host (official SDK handlers do this when configured with the endpoint).",
    "redirect": "Point urlTemplate at the final URL (https, no redirect).",
}


_CLOSE_CHECKS = {
    category: Check(RULE, category.lower(), Severity.WARNING,
                    f"`ConnectionCloseCount` with category `{category}`: {what}",
                    frozenset({Source.INVENTORY, Source.METRICS}), guidance=fix)
    for category, (what, fix) in _CLOSES.items()
}
HANDLER_ERRORS = Check(
    RULE, "handler-errors", Severity.WARNING,
    "event-handler errors in the resource logs, one finding per hub, event and status (critical for the `connect` "
    "event, since every client is rejected)",
    frozenset({Source.INVENTORY, Source.DIAGNOSTICS, Source.LOGS}), also=(Severity.CRITICAL,))
PROBE_FAILED = Check(
    RULE, "probe-failed", Severity.WARNING,
    "the abuse-protection `OPTIONS` probe of a configured handler failed, naming the cause: DNS, TLS, timeout, "
    "connection, status, missing `WebHook-Allowed-Origin`, redirect",
    frozenset({Source.INVENTORY, Source.HUBS, Source.PROBES}))
PROBE_BLOCKED = Check(
    RULE, "probe-blocked", Severity.INFO,
    "the handler points at a loopback, link-local or metadata address and was not probed",
    frozenset({Source.INVENTORY, Source.HUBS, Source.PROBES}),
    guidance="The service cannot reach loopback/link-local/metadata addresses either: point urlTemplate at a "
             "public https endpoint.")
CROSS_REGION = Check(
    RULE, "cross-region", Severity.WARNING,
    "an event handler runs on an App Service or Function app of the subscription in another region than the "
    "resource: every event crosses regions twice",
    frozenset({Source.INVENTORY, Source.HUBS, Source.SITES}),
    guidance="Run the handler in the resource's region (or add a replica / a resource in the handler's region): "
             "each event pays the inter-region round trip in latency and egress.",
)


def _cross_region(obs: Observation) -> list[Finding]:
    res = obs.resource
    out = []
    for site in obs.handler_sites or ():
        if not site.location or not res.location or site.location == res.location:
            continue
        hubs = sorted({h.hub for h in obs.handlers if h.host.lower() in site.host_names})
        out.append(finding(
            CROSS_REGION, res.id, site.id,
            f"{label(res)} ({res.location}) sends hub {', '.join(hubs)} events to {site.name} in {site.location}",
            {"site": site.name, "site_location": site.location, "resource_location": res.location, "hubs": hubs},
        ))
    return out


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    res = obs.resource
    out: list[Finding] = []
    window = obs.metrics.window_minutes if obs.metrics else settings.window_minutes
    for category, (what, _) in _CLOSES.items():
        count = close_count(obs.metrics, category)
        if count > 0:
            out.append(finding(
                _CLOSE_CHECKS[category], res.id, f"ConnectionCloseCount:{category}",
                f"{label(res)}: {count:,.0f} connections closed as {category} in {window} min: {what}",
                {"closes": count, "category": category, "window_minutes": window},
            ))
    out.extend(_log_group(obs, group) for group in obs.log_errors or ())
    out.extend(_probe(obs, probe) for probe in obs.probes if not probe.ok)
    return out + _cross_region(obs)


def _log_group(obs: Observation, group: HandlerLogError) -> Finding:
    res = obs.resource
    severity = Severity.CRITICAL if group.event.lower() == "connect" else Severity.WARNING
    impact = "clients cannot connect" if severity is Severity.CRITICAL else "events are not handled"
    return finding(
        HANDLER_ERRORS, res.id, f"{group.hub}/{group.event}/{group.status}",
        f"{label(res)}: {group.count:,} event handler errors for hub {group.hub}, event {group.event} "
        f"({group.kind}, {group.status}): {impact}",
        {"hub": group.hub, "event": group.event, "status": group.status, "kind": group.kind,
         "count": group.count, "last_seen": group.last_seen.isoformat() if group.last_seen else None,
         "sample": group.sample},
        guidance=_log_fix(group), severity=severity,
    )


def _log_fix(group: HandlerLogError) -> str:
    if group.kind.startswith("AbuseProtection"):
        return ("The handler fails the abuse-protection validation: answer OPTIONS with 2xx and "
                "WebHook-Allowed-Origin: * or the resource host.")
    if group.status in ("401", "403"):
        return "The handler rejects the service's calls: check its auth (managed identity audience, ?code= key)."
    if group.status == "404":
        return f"The handler has no route for hub {group.hub}, event {group.event}: check urlTemplate and the handler's routes."
    return f"The handler answered {group.status}: check its logs around the last occurrence."


def _probe(obs: Observation, probe: HandlerProbe) -> Finding:
    res, handler = obs.resource, probe.handler
    cause = probe.cause or "unknown"
    evidence = {"hub": handler.hub, "url": handler.url_redacted, "host": handler.host, "cause": cause,
                "status": probe.status, "detail": probe.detail}
    subject = f"{handler.hub} {handler.url_redacted}"
    if cause == "blocked":
        return finding(
            PROBE_BLOCKED, res.id, subject,
            f"{label(res)}: handler for hub {handler.hub} at {handler.host} was not probed (private or metadata address)",
            evidence,
        )
    reason = _PROBE_CAUSES.get(cause, "the validation request failed")
    status = f" ({probe.status})" if probe.status else ""
    return finding(
        PROBE_FAILED, res.id, subject,
        f"{label(res)}: event handler for hub {handler.hub} at {handler.host} fails validation: {reason}{status}",
        evidence, guidance=_PROBE_FIX.get(cause, "Check that the handler answers OPTIONS validation requests with 2xx."),
    )


register(Rule(
    RULE, (*_CLOSE_CHECKS.values(), HANDLER_ERRORS, PROBE_FAILED, PROBE_BLOCKED, CROSS_REGION), check,
    doc="per resource: are the event handlers (your webhooks) answering the service? Three independent signals: "
        "connection closes the service blames on the upstream, handler errors in the resource logs, and the "
        "watchdog's own abuse-protection `OPTIONS` probe of every configured handler.",
))
