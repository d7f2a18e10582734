"""posture: configuration that leaves the resource (or the watchdog) blind or harder to run safely.

Unknown inputs (a failed diagnostic-settings or autoscale read, None) say nothing here: the failed
call is already a blind-spot finding.
"""
from __future__ import annotations

from datetime import datetime

from watchdog.checks._common import finding, label
from watchdog.models import Finding, Observation, Severity
from watchdog.settings import Settings

RULE = "posture"


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    res = obs.resource
    out: list[Finding] = []
    diag = obs.diagnostics
    if diag is not None and not (diag.workspace_ids and diag.log_categories):
        out.append(finding(
            RULE, "no-workspace", Severity.WARNING, res.id, res.id,
            f"{label(res)} sends no resource logs to a Log Analytics workspace "
            f"({len(diag.workspace_ids)} workspace(s), {len(diag.log_categories)} log categories)",
            "Add a diagnostic setting that sends ConnectivityLogs, MessagingLogs and HttpRequestLogs to a "
            "workspace; without it you and the watchdog are blind to event-handler errors.",
            {"workspaces": len(diag.workspace_ids), "log_categories": list(diag.log_categories)},
        ))
    if not res.disable_local_auth:
        out.append(finding(
            RULE, "local-auth", Severity.INFO, res.id, res.id,
            f"{label(res)} accepts access keys (local auth enabled)",
            "Prefer Microsoft Entra ID (managed identity) for servers and set disableLocalAuth once no app "
            "uses a connection string; keys that leak stay valid until rotated.",
            {"disable_local_auth": False},
        ))
    if obs.autoscale:
        out.append(finding(
            RULE, "autoscale", Severity.INFO, res.id, res.id,
            f"{label(res)} has {len(obs.autoscale)} autoscale setting(s): the watchdog will not scale this resource",
            "Capacity findings still report; tune the autoscale setting's limits and rules instead "
            "(Microsoft suggests about 30 minutes between scale operations).",
            {"autoscale_settings": list(obs.autoscale)},
        ))
    return out
