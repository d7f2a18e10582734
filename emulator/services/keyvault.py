"""Key Vault secrets (`<vault>.vault.azure.net`), as azure-keyvault-secrets drives it.

The server has already run the challenge flow (401 + WWW-Authenticate until a token for
https://vault.azure.net arrives). Here: get (latest or a version), set (a new version), update,
list secrets and versions with nextLink paging, and Key Vault's own errors: 403 naming the RBAC
data action the caller lacks, 403 SecretDisabled, 404 SecretNotFound, 400 BadParameter.
Secret values appear only in response bodies: never in errors, logs or the journal.

Expired secrets (attributes.exp in the past) are still served: Microsoft's docs say an expired
secret's value "should not be retrieved", but the service answers 200 with the value
(Azure/AzureKeyVault#19, 2024); only `enabled: false` blocks reads.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ..faults import Fault
from ..world import SecretVersion, Vault, utcnow
from .base import BadRequest, Call, Handler, Service, json_response

# Every version azure-keyvault-secrets 4.12.0 can send (its ApiVersion enum); 4.12.0's default
# is 2026-04-01, which speaks the same secrets wire format as 7.5 for the operations served here.
API_VERSIONS = frozenset({"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"})
NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
PAGE_MAX = 25  # Key Vault's default and largest maxresults
RECOVERY = {"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}  # soft delete on, 90 days

# RBAC data actions, as Key Vault names them in its 403 message.
GET, LIST, SET, UPDATE = (f"Microsoft.KeyVault/vaults/secrets/{a}/action"
                          for a in ("getSecret", "readMetadata", "setSecret", "update"))
ACTIONS = {"getSecret": GET, "listSecrets": LIST, "listSecretVersions": LIST, "setSecret": SET, "updateSecret": UPDATE}


class Refused(BadRequest):
    """A Key Vault error with an `innererror` code, which Key Vault adds to 403s."""

    def __init__(self, message: str, code: str, status: int, inner: str) -> None:
        super().__init__(message, code, status)
        self.inner = inner


def _answering_refusals(handler: Handler) -> Handler:
    async def run(call: Call) -> web.StreamResponse:
        try:
            return await handler(call)
        except Refused as exc:
            return web.json_response({"error": {"code": exc.code, "message": str(exc),
                                                "innererror": {"code": exc.inner}}}, status=exc.status)
    return run


def _unix(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp())


def _from_unix(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"Property attributes.{field} must be an integer (Unix seconds).", "BadParameter")
    return datetime.fromtimestamp(value, timezone.utc)


class KeyVault(Service):
    name = "keyvault"
    audience = "https://vault.azure.net"

    def __init__(self, world) -> None:  # noqa: ANN001 - World, typed in Service
        super().__init__(world)
        name, version = r"(?P<name>[^/]+)", r"(?P<version>[^/]*)"
        for method, pattern, op, handler in (
                ("GET", r"/secrets", "listSecrets", self.list_secrets),
                ("GET", rf"/secrets/{name}/versions", "listSecretVersions", self.list_versions),
                ("GET", rf"/secrets/{name}(?:/{version})?", "getSecret", self.get_secret),
                ("PUT", rf"/secrets/{name}", "setSecret", self.set_secret),
                ("PATCH", rf"/secrets/{name}(?:/{version})?", "updateSecret", self.update_secret)):
            self.route(method, pattern, f"keyvault.{op}")(_answering_refusals(handler))

    def fault_response(self, request: web.Request, body: bytes, fault: Fault) -> web.StreamResponse:
        response = super().fault_response(request, body, fault)
        if fault.status == 403 and not fault.code:  # Key Vault says why in an innererror
            data = json.loads(response.body)  # type: ignore[arg-type]
            data["error"]["innererror"] = {"code": "ForbiddenByRbac"}
            response.body = json.dumps(data).encode()
        return response

    def matches(self, host: str) -> bool:
        return host.endswith(".vault.azure.net") and self.world.vault_by_host(host) is not None

    # -- operations --------------------------------------------------------------------------

    async def get_secret(self, call: Call) -> web.StreamResponse:
        vault, name = self._begin(call, GET)
        with self.world.lock:
            found = self._version(vault, name, call.match.group("version"))
        if not found.enabled:
            raise Refused("Operation get is not allowed on a disabled secret.", "Forbidden", 403, "SecretDisabled")
        return json_response(self._bundle(vault, name, found, with_value=True))

    async def set_secret(self, call: Call) -> web.StreamResponse:
        vault, name = self._begin(call, SET)
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            raise BadRequest("Property 'value' is required and must be a string.", "BadParameter")
        attributes = self._attributes(body)
        with self.world.lock:
            version = vault.set_secret(name, body["value"], content_type=body.get("contentType"),
                                       tags=self._tags(body), enabled=attributes.get("enabled", True),
                                       expires=attributes.get("exp"), not_before=attributes.get("nbf"))
        return json_response(self._bundle(vault, name, version, with_value=True))

    async def update_secret(self, call: Call) -> web.StreamResponse:
        vault, name = self._begin(call, UPDATE)
        body = call.json()
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.", "BadParameter")
        attributes = self._attributes(body)
        with self.world.lock:
            version = self._version(vault, name, call.match.group("version"))
            version.enabled = attributes.get("enabled", version.enabled)
            version.expires = attributes.get("exp", version.expires)
            version.not_before = attributes.get("nbf", version.not_before)
            version.content_type = body.get("contentType", version.content_type)
            if "tags" in body:
                version.tags = self._tags(body)
            version.updated = utcnow()
        return json_response(self._bundle(vault, name, version, with_value=False))

    async def list_secrets(self, call: Call) -> web.StreamResponse:
        vault, _ = self._begin(call, LIST)
        with self.world.lock:
            items = [self._item(vault, name, versions[-1], with_version=False)
                     for name, versions in sorted(vault.secrets.items()) if versions]
        return self._page(call, vault, "/secrets", items)

    async def list_versions(self, call: Call) -> web.StreamResponse:
        vault, name = self._begin(call, LIST)
        with self.world.lock:
            versions = vault.secrets.get(name)
            if not versions:
                raise self._not_found(name)
            # Key Vault lists versions in the natural order of their ids, not by age.
            items = [self._item(vault, name, v, with_version=True) for v in sorted(versions, key=lambda v: v.version)]
        return self._page(call, vault, f"/secrets/{name}/versions", items)

    # -- common steps ------------------------------------------------------------------------

    def _begin(self, call: Call, action: str) -> tuple[Vault, str]:
        """Check api-version, name and permission, in Key Vault's order; the vault and secret name."""
        version = call.request.query.get("api-version")
        if version is None:
            raise BadRequest("The 'api-version' query parameter is required.", "BadParameter")
        if version not in API_VERSIONS:
            raise BadRequest(f"The specified version ({version}) is not recognized. "
                             "Consider using the latest supported version (7.6).", "BadParameter")
        vault = self.world.vault_by_host(call.host)
        assert vault is not None  # matches() answered only for vaults in the world
        name = call.match.groupdict().get("name") or ""
        if name and not NAME.match(name):
            raise BadRequest(f"The request URI contains an invalid name: {name}", "BadParameter")
        self._authorize(call, vault, name, action)
        return vault, name

    def _authorize(self, call: Call, vault: Vault, name: str, action: str) -> None:
        """Raise Key Vault's RBAC 403. A denial's scope may be a vault name, a vault URL or a secret id."""
        scope = f"{vault.url}/secrets/{name}" if name else vault.url
        denied = (vault.forbidden or name in vault.forbidden_secrets
                  or (vault.read_only and action in (SET, UPDATE))
                  or self.world.denial("keyvault", vault.name, action) is not None
                  or self.world.denial("keyvault", scope, action) is not None)
        if not denied:
            return
        claims = call.caller or {}
        raise Refused(self._rbac_message(vault, name, action, claims.get("oid", ""), claims.get("iss", "")),
                      "Forbidden", 403, "ForbiddenByRbac")

    def forbidden_message(self, request: web.Request, body: bytes) -> str | None:
        vault = self.world.vault_by_host((request.host or "").split(":")[0])
        found = self.find(request.method, request.path)
        if vault is None or found is None:
            return None
        return self._rbac_message(vault, found[1].groupdict().get("name") or "", ACTIONS[found[0].op.split(".")[1]],
                                  self.world.principal_id, f"https://sts.windows.net/{self.world.tenant_id}/")

    def _rbac_message(self, vault: Vault, name: str, action: str, oid: str, iss: str) -> str:
        # Our managed identity's tokens carry no appid: its object id stands in for it.
        resource = (f"/subscriptions/{vault.subscription_id}/resourcegroups/{vault.resource_group}"
                    f"/providers/microsoft.keyvault/vaults/{vault.name}" + (f"/secrets/{name}" if name else ""))
        return (
            "Caller is not authorized to perform action on resource.\r\n"
            "If role assignments, deny assignments or role definitions were changed recently, "
            "please observe propagation time.\r\n"
            f"Caller: appid={oid};oid={oid};iss={iss}\r\n"
            f"Action: '{action}'\r\n"
            f"Resource: '{resource.lower()}'\r\n"
            "Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\n"
            f"Vault: {vault.name};location={self._location(vault)}\r\n")

    def _location(self, vault: Vault) -> str:
        # Vaults carry no region in the world: report the region of a resource in their group.
        return next((r.location for r in self.world.resources.values()
                     if r.resource_group == vault.resource_group), "eastus")

    def _version(self, vault: Vault, name: str, version: str | None) -> SecretVersion:
        versions = vault.secrets.get(name) or []
        found = next((v for v in versions if v.version == version), None) if version else (
            versions[-1] if versions else None)
        if found is None:
            raise self._not_found(f"{name}/{version}" if version else name)
        return found

    @staticmethod
    def _not_found(what: str) -> BadRequest:
        return BadRequest(f"A secret with (name/id) {what} was not found in this key vault. If you recently deleted "
                          "this secret you may be able to recover it using the correct recovery command. For help "
                          "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
                          "SecretNotFound", 404)

    @staticmethod
    def _attributes(body: dict[str, Any]) -> dict[str, Any]:
        raw = body.get("attributes") or {}
        if not isinstance(raw, dict):
            raise BadRequest("Property 'attributes' must be an object.", "BadParameter")
        out: dict[str, Any] = {k: _from_unix(raw[k], k) for k in ("exp", "nbf") if k in raw}
        if "enabled" in raw:
            if not isinstance(raw["enabled"], bool):
                raise BadRequest("Property attributes.enabled must be a boolean.", "BadParameter")
            out["enabled"] = raw["enabled"]
        return out

    @staticmethod
    def _tags(body: dict[str, Any]) -> dict[str, str]:
        tags = body.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise BadRequest("Property 'tags' must map names to string values.", "BadParameter")
        return dict(tags)

    def _page(self, call: Call, vault: Vault, path: str, items: list[dict[str, Any]]) -> web.Response:
        try:
            size = int(call.request.query.get("maxresults", PAGE_MAX))
            start = int(call.request.query.get("$skiptoken", 0))
        except ValueError:
            raise BadRequest("maxresults and $skiptoken must be integers.", "BadParameter") from None
        if not 1 <= size <= PAGE_MAX:
            raise BadRequest(f"Invalid value for maxresults: {size}. It must be between 1 and {PAGE_MAX}.",
                             "BadParameter")
        end = start + size
        page: dict[str, Any] = {"value": items[start:end]}
        # Key Vault's nextLink names the port and repeats api-version and maxresults. On the last
        # page the service sends "nextLink": null, which the spec (type string) refuses: omit it.
        if end < len(items):
            page["nextLink"] = (f"{vault.url}:443{path}?api-version={call.request.query['api-version']}"
                                f"&$skiptoken={end}&maxresults={size}")
        return json_response(page)

    # -- bodies ------------------------------------------------------------------------------

    @staticmethod
    def _attrs(v: SecretVersion) -> dict[str, Any]:
        times = {"nbf": _unix(v.not_before), "exp": _unix(v.expires)}
        return {"enabled": v.enabled, **{k: t for k, t in times.items() if t is not None},
                "created": _unix(v.created), "updated": _unix(v.updated), **RECOVERY}

    def _item(self, vault: Vault, name: str, v: SecretVersion, with_version: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"id": f"{vault.url}/secrets/{name}" + (f"/{v.version}" if with_version else ""),
                                "attributes": self._attrs(v)}
        if v.content_type is not None:
            item["contentType"] = v.content_type
        if v.tags:
            item["tags"] = dict(v.tags)
        return item

    def _bundle(self, vault: Vault, name: str, v: SecretVersion, with_value: bool) -> dict[str, Any]:
        bundle = self._item(vault, name, v, with_version=True)
        return {"value": v.value, **bundle} if with_value else bundle
