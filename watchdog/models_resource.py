"""What a sweep reads about a resource from Azure's control plane: its body (SKU, units, network
settings), its diagnostic settings, the alert rules and apps around it, its hubs' event handlers.
Plain frozen data, no I/O; URLs only as redacted (a handler's template stays in a Sensitive)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class Resource:
    id: str
    subscription_id: str
    resource_group: str
    name: str
    location: str
    host_name: str
    sku_name: str  # Free_F1, Standard_S1, Premium_P1, Premium_P2
    sku_tier: str  # Free, Standard, Premium
    capacity: int  # units
    tags: Mapping[str, str] = field(default_factory=dict)
    disable_local_auth: bool = False
    public_network_access: str = "Enabled"
    provisioning_state: str = "Succeeded"
    # From the same GET/list body (2024-03-01); None where the body did not say.
    resource_stopped: bool | None = None  # ARM's "true"/"false" string, parsed
    private_endpoints: tuple[PrivateEndpoint, ...] = ()
    network_acls: NetworkAcls | None = None


@dataclass(frozen=True)
class PrivateEndpoint:
    """One privateEndpointConnections[] entry: its name and privateLinkServiceConnectionState.status."""

    name: str
    status: str  # Approved, Pending, Rejected, Disconnected


@dataclass(frozen=True)
class NetworkAcls:
    """networkACLs: the default action and the public network's allow/deny request types."""

    default_action: str  # Allow or Deny
    public_allow: tuple[str, ...] = ()
    public_deny: tuple[str, ...] = ()

    def public_denied(self) -> tuple[str, ...]:
        """Request types the public network may not make: with default Deny, all not allowed;
        with default Allow, those denied."""
        if self.default_action.lower() == "deny":
            return tuple(t for t in REQUEST_TYPES if t not in self.public_allow)
        return tuple(t for t in REQUEST_TYPES if t in self.public_deny)


REQUEST_TYPES = ("ClientConnection", "ServerConnection", "RESTAPI", "Trace")  # WebPubSubRequestType


@dataclass(frozen=True)
class Diagnostics:
    workspace_ids: tuple[str, ...]  # ARM ids of workspaces receiving logs
    log_categories: tuple[str, ...]  # enabled log categories


@dataclass(frozen=True)
class AlertCriterion:
    """One static criterion of a metric alert rule (criteria.allOf[])."""

    metric: str
    namespace: str | None
    operator: str  # GreaterThan, GreaterThanOrEqual, LessThan, ...
    threshold: float | None  # None: a dynamic-threshold criterion
    aggregation: str


@dataclass(frozen=True)
class MetricAlertRule:
    """A metric alert rule (Microsoft.Insights/metricAlerts) whose scopes cover a resource."""

    id: str
    name: str
    enabled: bool
    scopes: tuple[str, ...]
    criteria: tuple[AlertCriterion, ...]


@dataclass(frozen=True)
class WebSite:
    """An App Service or Function app of the subscription (Microsoft.Web/sites list entry)."""

    id: str
    name: str
    location: str  # normalised: lower case, no spaces
    host_names: tuple[str, ...]  # defaultHostName first, then custom host names (lower case)
    kind: str = "app"  # app, functionapp, app,linux, functionapp,linux, ...


@dataclass(frozen=True)
class EventHandler:
    hub: str
    url_redacted: str  # scheme://host/path, never the query string
    host: str
    user_event_pattern: str | None = None
    system_events: tuple[str, ...] = ()
    auth_type: str = "None"
