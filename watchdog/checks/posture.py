"""posture: configuration that leaves the resource (or the watchdog) blind or harder to run safely.

Unknown inputs (a failed diagnostic-settings or autoscale read, None) say nothing here: the failed
call is already a blind-spot finding.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from watchdog.checks._common import finding, label
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.models import Finding, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "posture"

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


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    res = obs.resource
    out: list[Finding] = []
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
    RULE, (NO_WORKSPACE, LOCAL_AUTH, AUTOSCALE), check,
    doc="per resource. When a setting could not be read, posture says nothing and blind-spot says why.",
))
