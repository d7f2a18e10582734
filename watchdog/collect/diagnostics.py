"""Where a resource sends its logs: its diagnostic settings' workspaces and enabled log categories."""
from __future__ import annotations

from typing import Any, Callable

from watchdog.models_resource import Diagnostics

ACTION = "Microsoft.Insights/diagnosticSettings/read"


def parse(body: dict[str, Any]) -> Diagnostics:
    """Workspaces of settings that send at least one log category; categories enabled in them.
    A setting with only metrics, or to storage/Event Hubs only, gives the watchdog no logs."""
    workspaces: list[str] = []
    categories: list[str] = []
    for setting in body.get("value") or ():
        props = setting.get("properties") or {}
        enabled = [log.get("category") or log.get("categoryGroup") for log in props.get("logs") or ()
                   if log.get("enabled")]
        enabled = [c for c in enabled if c]
        workspace = props.get("workspaceId")
        if workspace and enabled:
            workspaces.append(workspace)
            categories.extend(enabled)
    return Diagnostics(workspace_ids=tuple(dict.fromkeys(workspaces)),
                       log_categories=tuple(dict.fromkeys(categories)))


def read(get_settings: Callable[[str], dict[str, Any]], resource_id: str) -> Diagnostics:
    """`get_settings`: AzureClients.diagnostic_settings (a GET on the resource's settings)."""
    return parse(get_settings(resource_id))
