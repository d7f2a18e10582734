"""Microsoft.Web on management.azure.com: the sites list and the Key Vault reference status API.

These are ARM calls, so they are served by the Arm service (same token audience, throttling,
RBAC denials and journal): `register(arm)` adds the routes. Names from Microsoft (AZURE-FACTS
"App Service / Functions Key Vault references"; the App Service doc "Use Key Vault references as
app settings"; the REST operations WebApps_List, WebApps_GetAppSettingsKeyVaultReferences,
WebApps_GetAppSettingKeyVaultReference, WebApps_Restart):
- GET  /subscriptions/{sub}/providers/Microsoft.Web/sites                      Microsoft.Web/sites/Read
- GET  {site}/config/configreferences/appsettings[/{name}]                     Microsoft.Web/sites/config/Read
- POST {site}/config/configreferences/appsettings/refresh                      Microsoft.Web/sites/config/Write
- POST {site}/restart                                                          Microsoft.Web/sites/restart/Action
The operations list has no action of its own for the refresh; ARM is assumed to check the config
write right for it (UNCONFIRMED). Nothing here serves `config/appsettings/list` (the values).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiohttp import web

from .. import sites as sites_mod
from .base import BadRequest, Call, json_response

if TYPE_CHECKING:
    from .arm import Arm

# Stable Microsoft.Web api-versions the emulator answers (the doc's 2022-03-01 and later ones).
VERSIONS = frozenset({"2022-03-01", "2023-01-01", "2023-12-01", "2024-04-01", "2024-11-01"})
READ = "Microsoft.Web/sites/Read"
CONFIG_READ = "Microsoft.Web/sites/config/Read"
CONFIG_WRITE = "Microsoft.Web/sites/config/Write"
RESTART = "Microsoft.Web/sites/restart/Action"

SUB = r"/subscriptions/(?P<sub>[^/]+)"
SITE = SUB + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Web/sites/(?P<site>[^/]+)"
REFS = SITE + r"/config/configreferences/appsettings"


def register(arm: Arm) -> None:
    web_apps = WebApps(arm)
    r = arm.route
    r("GET", SUB + r"/providers/Microsoft\.Web/sites", "web.list")(web_apps.list_sites)
    r("POST", REFS + r"/refresh", "web.refreshReferences")(web_apps.refresh)
    r("GET", REFS, "web.references")(web_apps.references)
    r("GET", REFS + r"/(?P<setting>[^/]+)", "web.reference")(web_apps.reference)
    r("POST", SITE + r"/restart", "web.restart")(web_apps.restart)


class WebApps:
    def __init__(self, arm: Arm) -> None:
        self.arm = arm
        self.world = arm.world

    async def list_sites(self, call: Call) -> web.Response:
        _api_version(call)
        sub = self.arm._subscription(call)  # noqa: SLF001 - the same checks, in ARM's order
        self.arm._authorize(call, f"/subscriptions/{sub}", READ)  # noqa: SLF001
        with self.world.lock:
            found = sorted((s for s in self.world.sites.values()
                            if s.subscription_id.lower() == sub.lower()
                            and not self.world.denial("arm", s.id, READ)), key=lambda s: s.id.lower())
            bodies = [sites_mod.site_body(s) for s in found]
        return self.arm._page(call, bodies)  # noqa: SLF001

    async def references(self, call: Call) -> web.Response:
        site = self._site(call, CONFIG_READ)
        with self.world.lock:
            sites_mod.settle(self.world, site)
            body = {"value": [sites_mod.reference_body(site, ref) for ref in site.references.values()],
                    "nextLink": None}
        return json_response(body)

    async def reference(self, call: Call) -> web.Response:
        site = self._site(call, CONFIG_READ)
        setting = call.group("setting")
        with self.world.lock:
            sites_mod.settle(self.world, site)
            ref = next((r for name, r in site.references.items() if name.lower() == setting.lower()), None)
            if ref is None:
                raise BadRequest(f"App setting '{setting}' of site '{site.name}' is not a Key Vault reference.",
                                 "NotFound", 404)
            return json_response(sites_mod.reference_body(site, ref))

    async def refresh(self, call: Call) -> web.Response:
        """Force resolution now (the App Service doc's POST). Answers the references' new status,
        as the collection GET does (UNCONFIRMED: the body Azure returns)."""
        site = self._site(call, CONFIG_WRITE)
        with self.world.lock:
            site.refreshes += 1
            sites_mod.resolve_all(self.world, site)
            body = {"value": [sites_mod.reference_body(site, ref) for ref in site.references.values()],
                    "nextLink": None}
        return json_response(body)

    async def restart(self, call: Call) -> web.Response:
        site = self._site(call, RESTART)
        # Not in the emulated activity log, whose entries are Web PubSub's (UNCONFIRMED how Azure logs it).
        sites_mod.restart(self.world, site)
        return web.Response(status=200)

    def _site(self, call: Call, action: str) -> sites_mod.Site:
        _api_version(call)
        sub, rg, name = self.arm._subscription(call), call.group("rg"), call.group("site")  # noqa: SLF001
        site_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{sites_mod.SITE_TYPE}/{name}"
        self.arm._authorize(call, site_id, action)  # noqa: SLF001
        self.arm._resource_group(sub, rg)  # noqa: SLF001
        site = self.world.sites.get(site_id.lower())
        if site is None:
            raise BadRequest(f"The Resource '{sites_mod.SITE_TYPE}/{name}' under resource group '{rg}' was not "
                             "found.", "ResourceNotFound", 404)
        return site


def _api_version(call: Call) -> None:
    version = call.request.query.get("api-version")
    if not version:
        raise BadRequest("The api-version query parameter (?api-version=) is required for all requests.",
                         "MissingApiVersionParameter")
    if version not in VERSIONS or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", version):
        raise BadRequest(f"No registered resource provider found for location 'global' and API version "
                         f"'{version}' for type 'sites'. The supported api-versions are "
                         f"'{', '.join(sorted(VERSIONS))}'.", "NoRegisteredProviderFound")
