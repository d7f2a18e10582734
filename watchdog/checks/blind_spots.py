"""blind-spot: every call that failed becomes a finding, so a gap in what the watchdog saw is never
mistaken for health. Failures are warnings: the resource may be fine, but nobody can tell.

A read the sweep chose not to make (kind `deferred`: listKeys over WATCHDOG_MAX_LIST_KEYS, cold
hubs and diagnostics past what ARM's budget allows before WATCHDOG_SWEEP_DEADLINE_SECONDS) is an
info finding per resource, plus one finding per subscription and source that counts them: a
warning when it hides configuration (hubs, diagnostics), so a sweep that skipped some is never
reported healthy; info for keys, which the data-plane proof still judges. Their fingerprints name
the resource or subscription, never the count, so they stay stable while the next sweeps catch up.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from watchdog.checks._common import finding
from watchdog.checks.registry import Check, Rule, register
from watchdog.collect import consumers, key_age
from watchdog.models import ErrorKind, Finding, ObservationError, Severity

RULE = "blind-spot"

RULE_ERROR = Check(
    RULE, "rule-error", Severity.WARNING,
    "a rule failed on an odd resource: the finding replaces the verdict instead of stopping the sweep",
    frozenset(), guidance="This is a watchdog bug: report it with the sweep's JSON report.")
SKIPPED = Check(
    RULE, f"<source>-{ErrorKind.DEFERRED}", Severity.INFO,
    "a read the sweep chose not to make (listKeys over `WATCHDOG_MAX_LIST_KEYS`, cold hubs and diagnostics past "
    "`WATCHDOG_SWEEP_DEADLINE_SECONDS`): info per resource, plus a count per subscription and source (a warning "
    "when it hides hubs or diagnostics, so such a sweep is never reported healthy)",
    frozenset(), also=(Severity.WARNING,))
FAILED = Check(
    RULE, "<source>-<kind>", Severity.WARNING,
    "a call failed (for example `metrics-forbidden`, `logs-throttled`, `handlers-timeout`): a 403 names the missing "
    "permission and role, throttling points at `WATCHDOG_CONCURRENCY` and the schedule, timeouts at network "
    "reachability; critical when the source is blind for every resource in scope (no rights at all, the service "
    "down): then nothing it feeds can be judged anywhere", frozenset(), also=(Severity.CRITICAL,))

# source -> (what the watchdog cannot see, the Azure permission and role that would fix a 403)
_SOURCES: dict[str, tuple[str, str]] = {
    "inventory": ("which Web PubSub resources exist",
                  "Microsoft.SignalRService/WebPubSub/read (Reader on the subscription)"),
    "skus": ("the allowed unit counts", "Microsoft.SignalRService/WebPubSub/skus/read (Reader)"),
    "keys": ("the current access keys, so key drift is judged by the data-plane proof alone",
             "Microsoft.SignalRService/WebPubSub/listKeys/action (Contributor or a custom role)"),
    "secrets": ("the Key Vault secrets holding connection strings",
                "Microsoft.KeyVault/vaults/secrets/getSecret/action (Key Vault Secrets User; "
                "Key Vault Secrets Officer for secret sync)"),
    "metrics": ("connection, load and traffic metrics",
                "Microsoft.Insights/metrics/read (Monitoring Reader at subscription scope)"),
    "logs": ("event-handler errors in the resource logs",
             "Microsoft.OperationalInsights/workspaces/query/read (Log Analytics Reader on the workspace)"),
    "diagnostics": ("where the resource sends its logs",
                    "Microsoft.Insights/diagnosticSettings/read (Monitoring Reader)"),
    "autoscale": ("whether an autoscale setting manages the resource",
                  "Microsoft.Insights/autoscalesettings/read (Monitoring Reader)"),
    # Without the activity log the sweep cannot tell which cached hubs and diagnostic settings
    # changed, so it trusts none of them: nothing is missed, but every resource costs two more
    # ARM reads per sweep (see watchdog/collect/cache.py) until the log can be read again.
    "activity-log": ("which hubs, event handlers and diagnostic settings changed since the last sweep, so "
                     "this sweep re-read them for every resource of the subscription (two ARM reads each, "
                     "which spend the subscription's throttling budget); without the log, a change is seen "
                     "only by such a full re-read",
                     "Microsoft.Insights/eventtypes/values/read on the subscription "
                     "(in the watchdog's custom role; Reader has it)"),
    "alerts": ("whether metric alert rules cover the resources (posture/no-alerts)",
               "Microsoft.Insights/MetricAlerts/Read on the subscription (Monitoring Reader)"),
    "sites": ("which App Service or Function App hosts an event handler, and in which region",
              "Microsoft.Web/sites/Read on the subscription (Reader)"),
    "replicas": ("the replicas of a Premium resource, their units and metrics",
                 "Microsoft.SignalRService/WebPubSub/replicas/read (Reader)"),
    "hubs": ("the hubs and their event handlers", "Microsoft.SignalRService/WebPubSub/hubs/read (Reader)"),
    "handlers": ("whether the event handlers answer", "network access from the Function App to the handler"),
    consumers.SOURCE: consumers.BLIND_SPOT,
    key_age.SOURCE: key_age.BLIND_SPOT,
    "ledger": ("what was already notified, leases and the audit trail: nothing was sent or acted on",
               "read and write access to the ledger (Storage Table Data Contributor on AzureWebJobsStorage, or the "
               "SQLite file not locked by another process)"),
    "dataplane": ("whether the stored key works (data-plane proof)",
                  "network access from the Function App to the resource's public endpoint"),
}


def _denied(error: ObservationError) -> bool:
    return error.kind in (ErrorKind.FORBIDDEN, ErrorKind.UNAUTHORIZED) or error.status in (401, 403)


def _guidance(error: ObservationError, permission: str) -> str:
    if _denied(error):
        return f"Grant the watchdog's managed identity {permission}."
    if error.kind == ErrorKind.DEFERRED:
        if error.source == "keys":
            return ("Nothing to do: the next sweeps list them, most urgent first; meanwhile the data-plane proof "
                    "judges the secret. Raise WATCHDOG_MAX_LIST_KEYS to list more per sweep (each call spends "
                    "one of the subscription's ARM write tokens).")
        return ("Nothing to do: the next sweeps read it (a large subscription's cache fills over a few sweeps). "
                "WATCHDOG_SWEEP_DEADLINE_SECONDS bounds how much one sweep reads.")
    if error.kind == ErrorKind.THROTTLED:
        return ("Azure throttled the watchdog (it already honours Retry-After). If this repeats, lower "
                "WATCHDOG_CONCURRENCY or run the sweep less often (WATCHDOG_SCHEDULE).")
    if error.kind in (ErrorKind.TIMEOUT, ErrorKind.UNREACHABLE):
        return ("Check network reachability from the Function App (private endpoints, firewalls, DNS); "
                "the next sweep retries.")
    if error.source == "ledger":
        return ("The sweep ran and reported, but sent no notification and took no action. Check the ledger's "
                "storage (AzureWebJobsStorage reachable, Table Storage not throttled; or the SQLite file not held "
                "by another process); this invocation is marked failed.")
    if error.kind == ErrorKind.NOT_FOUND:
        return "The target vanished or is misnamed: check the binding (tags, WATCHDOG_KEY_VAULTS)."
    return "The next sweep retries; if it persists, see the Function App's logs for this source."


def _blind_everywhere(errors: list[ObservationError], in_scope: int) -> set[str]:
    """Sources that failed (not deferred) for every one of the `in_scope` resources."""
    hit: dict[str, set[str]] = {}
    for e in errors:
        if e.resource_id and e.kind != ErrorKind.DEFERRED:
            hit.setdefault(e.source, set()).add(e.resource_id.lower())
    return {source for source, ids in hit.items() if in_scope and len(ids) >= in_scope}


def check_errors(errors: list[ObservationError], now: datetime, in_scope: int = 0) -> list[Finding]:
    """One finding per error; `in_scope`: resources swept, so a source blind for all of them is
    critical and says the watchdog lost sight of it."""
    everywhere = _blind_everywhere(errors, in_scope)
    out = []
    for error in errors:
        what, default_permission = _SOURCES.get(error.source, (f"{error.source} data", "the needed role"))
        permission = error.permission or default_permission
        status = f" {error.status}" if error.status else ""
        resource_id = error.resource_id or error.subject or error.source
        lost = error.source in everywhere or error.source == "ledger"
        summary = (f"Lost sight of {error.source} for every resource in scope ({what}): {error.source} call "
                   f"{error.kind}{status}" if lost else f"Cannot see {what}: {error.source} call {error.kind}{status}")
        out.append(finding(
            SKIPPED if error.kind == ErrorKind.DEFERRED else FAILED, resource_id, error.subject or error.source,
            summary,
            {"source": error.source, "kind": error.kind, "status": error.status, "message": error.message,
             "subject": error.subject, "permission": permission if _denied(error) else None, "observed_at": now.isoformat()},
            guidance=_guidance(error, permission), check_id=f"{error.source}-{error.kind}",
            **({"severity": Severity.CRITICAL} if lost else {}),
        ))
    return out + _deferred_totals(errors, now)


def _deferred_totals(errors: list[ObservationError], now: datetime) -> list[Finding]:
    counts = Counter((e.resource_id.split("/")[2].lower(), e.source) for e in errors
                     if e.kind == ErrorKind.DEFERRED and e.resource_id and e.resource_id.count("/") >= 2)
    out = []
    for (sub, source), count in sorted(counts.items()):
        what = _SOURCES.get(source, (f"{source} data", ""))[0]
        scope = f"/subscriptions/{sub}"
        out.append(finding(
            SKIPPED, scope, scope, f"{count} resource(s) deferred to the next sweeps: {what}",
            {"source": source, "deferred": count, "observed_at": now.isoformat()},
            guidance=_guidance(ObservationError(source, ErrorKind.DEFERRED, ""), ""),
            severity=Severity.INFO if source == "keys" else Severity.WARNING, check_id=f"{source}-{ErrorKind.DEFERRED}",
        ))
    return out


def rule_error(resource_id: str, resource_name: str, rule_name: str, exc: Exception) -> Finding:
    """A rule that raised on one resource: said out loud, never a stopped sweep."""
    return finding(RULE_ERROR, resource_id, rule_name,
                   f"Rule {rule_name} could not judge {resource_name}: {type(exc).__name__}",
                   {"rule": rule_name, "exception": type(exc).__name__})


register(Rule(
    RULE, (RULE_ERROR, SKIPPED, FAILED), None,
    doc="every call that failed, or that the sweep chose not to make, becomes a finding, so a gap in what the "
        "watchdog saw is never mistaken for health. The sweep always completes for everything else.",
))
