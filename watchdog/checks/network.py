"""network: can anyone reach the resource? Judged from the resource's own GET/list body
(publicNetworkAccess, privateEndpointConnections, networkACLs): no extra call.

Where the body did not carry a field (an older API version, a partial body), the check says nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from watchdog.checks._common import finding, label
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.models import Finding, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "network"
# The request types whose denial on the public network stops an app (Trace only stops live trace).
APP_TYPES = ("ClientConnection", "ServerConnection", "RESTAPI")

UNREACHABLE = Check(
    RULE, "unreachable", Severity.CRITICAL,
    "public network access is Disabled and no private endpoint connection is Approved: nobody can connect",
    frozenset({Source.INVENTORY}),
    guidance="Approve a private endpoint connection (Networking > Private access) or set publicNetworkAccess "
             "to Enabled; until then every client and server call fails.",
)
PENDING = Check(
    RULE, "private-endpoint-pending", Severity.WARNING,
    "a private endpoint connection is Pending or Rejected: traffic through it fails",
    frozenset({Source.INVENTORY}),
    guidance="Approve the connection on the Web PubSub resource (Networking > Private access), or remove the "
             "private endpoint that was rejected; clients resolving the private address cannot connect.",
)
ACL_DENIES = Check(
    RULE, "acl-denies", Severity.WARNING,
    "public access is on but the network ACLs deny ClientConnection, ServerConnection or RESTAPI on it",
    frozenset({Source.INVENTORY}),
    guidance="Allow the request type on the public network (Networking > Access control rules), or move its "
             "callers to a private endpoint; denied calls fail with 403.",
)


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    res = obs.resource
    out: list[Finding] = []
    states = {pe.name: pe.status for pe in res.private_endpoints}
    approved = [n for n, s in states.items() if s.lower() == "approved"]
    public_on = res.public_network_access.lower() != "disabled"
    if not public_on and not approved:
        out.append(finding(
            UNREACHABLE, res.id, res.id,
            f"{label(res)} has public network access Disabled and no Approved private endpoint "
            f"({len(states)} connection(s))",
            {"public_network_access": res.public_network_access,
             "private_endpoints": [f"{n}: {s}" for n, s in sorted(states.items())]},
        ))
    for name, status in sorted(states.items()):
        if status.lower() in ("pending", "rejected"):
            out.append(finding(
                PENDING, res.id, f"{res.id}/privateEndpointConnections/{name}",
                f"{label(res)}: private endpoint connection {name} is {status}",
                {"connection": name, "status": status, "approved_connections": len(approved)},
            ))
    if public_on and res.network_acls is not None:
        denied = [t for t in res.network_acls.public_denied() if t in APP_TYPES]
        if denied:
            out.append(finding(
                ACL_DENIES, res.id, res.id,
                f"{label(res)} allows public network access but its ACLs deny {', '.join(denied)} on it",
                {"denied": denied, "default_action": res.network_acls.default_action,
                 "approved_private_endpoints": len(approved)},
            ))
    return out


register(Rule(
    RULE, (UNREACHABLE, PENDING, ACL_DENIES), check,
    doc="per resource, from the resource's own body (publicNetworkAccess, privateEndpointConnections, "
        "networkACLs): no extra call.",
))
