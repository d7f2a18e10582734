"""Which resources an Azure Monitor autoscale setting targets (the watchdog never scales those)."""
from __future__ import annotations

from typing import Any, Iterable

ACTION = "Microsoft.Insights/autoscalesettings/read"


def targets(settings: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """Lower-case target resource id -> names of the autoscale settings that target it. Disabled
    settings count too: someone chose to manage the resource's scale there."""
    out: dict[str, list[str]] = {}
    for setting in settings:
        target = (setting.target_resource_uri or "").rstrip("/").lower()
        if target:
            out.setdefault(target, []).append(setting.name)
    return {k: tuple(v) for k, v in out.items()}


def list_in_subscription(client: Any) -> dict[str, tuple[str, ...]]:
    """`client`: the subscription's MonitorManagementClient. One paged list per subscription, not
    per resource group (20 groups would cost 20 ARM reads); a setting may live in any group."""
    return targets(client.autoscale_settings.list_by_subscription())
