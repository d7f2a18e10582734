"""posture: configuration that leaves the resource (or the watchdog) blind or harder to run safely.

Unknown inputs (a failed diagnostic-settings or autoscale read, None) say nothing here: the failed
call is already a blind-spot finding.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from watchdog.checks import alert_coverage
from watchdog.checks._common import finding, label
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.config import Setting
from watchdog.models import Finding, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "posture"
# The resource log categories a troubleshooting session needs (Web PubSub's three).
LOG_CATEGORIES = ("ConnectivityLogs", "MessagingLogs", "HttpRequestLogs")
ALL_LOGS = ("alllogs", "audit")  # category groups that include them
PRODUCTION = frozenset({"production", "prod", "prd"})
ENVIRONMENT_TAGS = ("environment", "env")

SETTINGS = (
    Setting("WATCHDOG_REQUIRED_TAGS", "environment,team,cost-center",
            "Comma-separated tag names every resource should carry (posture/missing-tags); empty: none required."),
)

NO_WORKSPACE = Check(
    RULE, "no-workspace", Severity.WARNING,
    "no diagnostic setting sends resource logs to a Log Analytics workspace: you and the watchdog are blind "
    "to event-handler errors",
    frozenset({Source.INVENTORY, Source.DIAGNOSTICS}),
    guidance="Add a diagnostic setting that sends ConnectivityLogs, MessagingLogs and HttpRequestLogs to a "
             "workspace; without it you and the watchdog are blind to event-handler errors.",
)
LOCAL_AUTH = Check(
    RULE, "local-auth", Severity.INFO,
    "local auth is enabled: the resource accepts access keys (Microsoft Entra ID recommended)",
    frozenset({Source.INVENTORY}),
    guidance="Prefer Microsoft Entra ID (managed identity) for servers and set disableLocalAuth once no app "
             "uses a connection string; keys that leak stay valid until rotated.",
)
AUTOSCALE = Check(
    RULE, "autoscale", Severity.INFO,
    "an autoscale setting manages the resource: the watchdog will not scale it",
    frozenset({Source.INVENTORY, Source.AUTOSCALE}),
    guidance="Capacity findings still report; tune the autoscale setting's limits and rules instead "
             "(Microsoft suggests about 30 minutes between scale operations).",
)

STOPPED = Check(
    RULE, "resource-stopped", Severity.CRITICAL,
    "the resource is stopped (resourceStopped true): every client and server call fails",
    frozenset({Source.INVENTORY}),
    guidance="Start the resource (Overview > Start, or set resourceStopped to false) if it should serve "
             "traffic; a stopped resource still bills its units.",
)
CATEGORIES = Check(
    RULE, "diagnostic-categories", Severity.WARNING,
    "a diagnostic setting sends logs to a workspace but ConnectivityLogs, MessagingLogs or HttpRequestLogs is off",
    frozenset({Source.INVENTORY, Source.DIAGNOSTICS}),
    guidance="Enable the missing categories (or the allLogs category group) in the diagnostic setting: each "
             "answers a different troubleshooting question (connections, messages, REST calls).",
)
MISSING_TAGS = Check(
    RULE, "missing-tags", Severity.INFO,
    "the resource lacks a tag of WATCHDOG_REQUIRED_TAGS (default environment, team, cost-center)",
    frozenset({Source.INVENTORY}),
    guidance="Tag the resource so alerts reach an owner and costs a budget (Azure Policy can require tags).",
)
FREE_IN_PRODUCTION = Check(
    RULE, "free-in-production", Severity.WARNING,
    "a Free_F1 resource is tagged as production: no SLA, 20 connections, 20,000 messages a day",
    frozenset({Source.INVENTORY}),
    guidance="Move production traffic to Standard or Premium (the tier change moves the public IP: plan for "
             "DNS propagation), or correct the environment tag.",
)

NO_ALERTS = Check(
    RULE, "no-alerts", Severity.INFO,
    "no enabled metric alert rule covers connection utilisation (>= 80% of the cap) or ServerLoad (>= 70%)",
    frozenset({Source.INVENTORY, Source.ALERTS}),
    remedy="alerts",
    guidance="Create metric alert rules on ConnectionQuotaUtilization (>= 80) and ServerLoad (>= 70) with an "
             "action group (WATCHDOG_ALERTS=on creates them), so someone hears of a full resource even when "
             "the watchdog does not run.",
)


def alerts(obs: Observation) -> list[Finding]:
    res = obs.resource
    if obs.alerts is None:
        return []
    gaps = alert_coverage.missing(obs.alerts, res)
    if not gaps:
        return []
    names = [b.key for b in gaps]
    return [finding(NO_ALERTS, res.id, res.id, f"{label(res)} has no metric alert for {' or '.join(names)}",
                    {"missing": names, "rules_in_scope": [r.name for r in obs.alerts]})]


def _tag(tags: dict[str, str], names: tuple[str, ...]) -> str | None:
    lower = {k.lower(): v for k, v in tags.items()}
    return next((lower[n] for n in names if n in lower), None)


def configuration(obs: Observation, settings: Settings) -> list[Finding]:
    """What the resource's own body and tags say (no call beyond the inventory)."""
    res = obs.resource
    out: list[Finding] = []
    if res.resource_stopped:
        out.append(finding(STOPPED, res.id, res.id, f"{label(res)} is stopped (resourceStopped true)",
                           {"resource_stopped": True}))
    lower = {k.lower() for k in res.tags}
    missing = [t for t in settings.required_tags if t.lower() not in lower]
    if missing:
        out.append(finding(MISSING_TAGS, res.id, res.id, f"{label(res)} lacks the tag(s) {', '.join(missing)}",
                           {"missing": missing, "required": list(settings.required_tags)}))
    env = _tag(dict(res.tags), ENVIRONMENT_TAGS)
    if res.sku_name.lower() == "free_f1" and env is not None and env.strip().lower() in PRODUCTION:
        out.append(finding(FREE_IN_PRODUCTION, res.id, res.id,
                           f"{label(res)} runs on Free_F1 but its environment tag says {env!r}",
                           {"sku": res.sku_name, "environment": env}))
    return out


def categories(obs: Observation) -> list[Finding]:
    """Categories off in settings that do send logs to a workspace (none sending: no-workspace)."""
    diag, res = obs.diagnostics, obs.resource
    if diag is None or not (diag.workspace_ids and diag.log_categories):
        return []
    enabled = {c.lower() for c in diag.log_categories}
    if enabled & set(ALL_LOGS):
        return []
    off = [c for c in LOG_CATEGORIES if c.lower() not in enabled]
    if not off:
        return []
    return [finding(CATEGORIES, res.id, res.id, f"{label(res)} does not send {', '.join(off)} to its workspace",
                    {"off": off, "enabled": list(diag.log_categories)})]


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    res = obs.resource
    out: list[Finding] = configuration(obs, settings) + categories(obs) + alerts(obs)
    diag = obs.diagnostics
    if diag is not None and not (diag.workspace_ids and diag.log_categories):
        out.append(finding(
            NO_WORKSPACE, res.id, res.id,
            f"{label(res)} sends no resource logs to a Log Analytics workspace "
            f"({len(diag.workspace_ids)} workspace(s), {len(diag.log_categories)} log categories)",
            {"workspaces": len(diag.workspace_ids), "log_categories": list(diag.log_categories)},
        ))
    if not res.disable_local_auth:
        out.append(finding(LOCAL_AUTH, res.id, res.id, f"{label(res)} accepts access keys (local auth enabled)",
                           {"disable_local_auth": False}))
    if obs.autoscale:
        out.append(finding(
            AUTOSCALE, res.id, res.id,
            f"{label(res)} has {len(obs.autoscale)} autoscale setting(s): the watchdog will not scale this resource",
            {"autoscale_settings": list(obs.autoscale)},
        ))
    return out


register(Rule(
    RULE, (NO_WORKSPACE, LOCAL_AUTH, AUTOSCALE, STOPPED, CATEGORIES, MISSING_TAGS, FREE_IN_PRODUCTION,
          NO_ALERTS), check,
    doc="per resource. When a setting could not be read, posture says nothing and blind-spot says why.",
))
