"""App Service and Function apps (Microsoft.Web/sites): the subscription's list only, which
upstream/cross-region needs to find where an event handler runs. Installed on the ARM service.

The consumers work has a fuller Microsoft.Web emulation (emulator/services/web.py, with Key Vault
references); this minimal list is to be folded into it. Shape: the 2024-11-01 list entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from ..world import arm_id
from .base import BadRequest, Call

if TYPE_CHECKING:
    from .arm import Arm

VERSIONS = frozenset({"2023-12-01", "2024-04-01", "2024-11-01"})
TYPE = "Microsoft.Web/sites"
READ = "Microsoft.Web/sites/Read"


@dataclass
class WebApp:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    kind: str = "app"
    custom_hosts: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return arm_id(self.subscription_id, self.resource_group, TYPE, self.name)

    @property
    def default_host_name(self) -> str:
        return f"{self.name.lower()}.azurewebsites.net"

    def body(self) -> dict:
        hosts = [self.default_host_name, *self.custom_hosts]
        return {"id": self.id, "name": self.name, "type": TYPE, "kind": self.kind, "location": self.location,
                "properties": {"state": "Running", "enabled": True, "defaultHostName": self.default_host_name,
                               "hostNames": hosts, "enabledHostNames": [*hosts, f"{self.name.lower()}.scm.azurewebsites.net"],
                               "resourceGroup": self.resource_group}}


def install(arm: Arm, sub: str) -> None:
    world = arm.world

    async def list_sites(call: Call) -> web.Response:
        version = call.request.query.get("api-version")
        if version not in VERSIONS:
            raise BadRequest(f"The api-version '{version}' is not supported for type 'sites'. The supported "
                             f"api-versions are '{', '.join(sorted(VERSIONS))}'.", "NoRegisteredProviderFound")
        s = arm._subscription(call)  # noqa: SLF001 - the ARM service's own checks, in its order
        arm._authorize(call, f"/subscriptions/{s}", READ)  # noqa: SLF001
        with world.lock:
            found = sorted((a for a in world.web_apps.values() if a.subscription_id.lower() == s.lower()),
                           key=lambda a: a.id.lower())
            bodies = [a.body() for a in found]
        return arm._page(call, bodies)  # noqa: SLF001

    arm.route("GET", sub + r"/providers/Microsoft\.Web/sites", "web.list")(list_sites)
