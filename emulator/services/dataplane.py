"""Web PubSub data plane (`<name>.webpubsub.azure.com`), as azure-messaging-webpubsubservice drives it.

Callers authenticate with either
- a JWT (HS256) signed with an access key, `aud` = the request URL (the SDK's JwtCredentialPolicy
  signs the full URL, query included): only the resource's keys *at request time* are accepted, so
  a key regenerated mid-run fails on the very next call; refused when local auth is disabled; or
- an Entra token for https://webpubsub.azure.com from the emulator's identity endpoint.
Anything else is 401. `/api/health` needs no auth and so proves nothing about a key.

Error bodies follow the spec's ErrorDetail (`{"code", "message"}` at the top level, plus the
`x-ms-error-code` header); HEAD answers carry no body.
"""
from __future__ import annotations

import re
import time
from typing import Any, Callable

import jwt
from aiohttp import web

from ..server import verify_token
from ..world import Hub, WebPubSub
from . import resource_logs
from .base import BadRequest, Call, Service, json_response

ENTRA_AUDIENCE = "https://webpubsub.azure.com"
HUB = r"(?P<hub>[^/]+)"
HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}$")  # the spec's pattern for {hub}
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")  # date-shaped; 1.3.0 sends 2024-12-01


class DataPlane(Service):
    name = "dataplane"
    audience = None  # the server checks no token: access-key JWTs are verified here

    def __init__(self, world) -> None:  # noqa: ANN001 - World, typed in Service
        super().__init__(world)
        for method in ("HEAD", "GET"):  # the spec has HEAD; a GET is answered the same way
            self.route(method, r"/api/health", "dataplane.health")(self.health)
        self.route("HEAD", rf"/api/hubs/{HUB}/connections/(?P<id>[^/]+)", "dataplane.connectionExists")(
            self.connection_exists)
        self.route("HEAD", rf"/api/hubs/{HUB}/users/(?P<id>[^/]+)", "dataplane.userExists")(self.user_exists)
        self.route("HEAD", rf"/api/hubs/{HUB}/groups/(?P<id>[^/]+)", "dataplane.groupExists")(self.group_exists)
        self.route("POST", rf"/api/hubs/{HUB}/:generateToken", "dataplane.generateToken")(self.generate_token)
        self.route("POST", rf"/api/hubs/{HUB}/:send", "dataplane.sendToAll")(self.send_to_all)

    def matches(self, host: str) -> bool:
        return host.endswith(".webpubsub.azure.com") and self.world.resource_by_host(host) is not None

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=status,
                                 headers={"x-ms-error-code": code, **(headers or {})})

    # -- operations --------------------------------------------------------------------------

    async def health(self, call: Call) -> web.StreamResponse:
        return web.Response(status=200)

    async def connection_exists(self, call: Call) -> web.StreamResponse:
        return self._exists(call, lambda hub, cid: cid in hub.connections)

    async def user_exists(self, call: Call) -> web.StreamResponse:
        return self._exists(call, lambda hub, user: user in hub.connections.values())

    async def group_exists(self, call: Call) -> web.StreamResponse:
        # A group exists while it has connections, as in the service.
        return self._exists(call, lambda hub, group: bool(hub.groups.get(group)))

    async def generate_token(self, call: Call) -> web.StreamResponse:
        res, hub = self._begin(call)
        query = call.request.query
        try:
            minutes = int(query.get("minutesToExpire", 60))
        except ValueError:
            raise BadRequest("minutesToExpire must be an integer.", "InvalidRequest") from None
        if minutes < 1:
            raise BadRequest("minutesToExpire must be at least 1.", "InvalidRequest")
        kind = query.get("clientType", "Default").lower()
        if kind not in ("default", "mqtt"):
            raise BadRequest(f"clientType {query['clientType']!r} is not Default or MQTT.", "InvalidRequest")
        now = int(time.time())
        path = "/clients/mqtt/hubs/" if kind == "mqtt" else "/client/hubs/"
        # The same claims the SDK puts in a token it builds from a key (get_token_by_key).
        claims: dict[str, Any] = {"aud": f"https://{res.host}{path}{hub}", "iat": now, "exp": now + minutes * 60}
        if query.get("userId"):
            claims["sub"] = query["userId"]
        if roles := query.getall("role", []):
            claims["role"] = roles
        if groups := query.getall("group", []):
            claims["webpubsub.group"] = groups
        with self.world.lock:
            key = res.key("primary")
        return json_response({"token": jwt.encode(claims, key, algorithm="HS256")})

    async def send_to_all(self, call: Call) -> web.StreamResponse:
        res, _ = self._begin(call)
        resource_logs.http_request(self.world, res, "POST", call.request.path, 202, call.request.remote or "")
        return web.Response(status=202)  # fire and forget: no client connection receives anything

    # -- common steps ------------------------------------------------------------------------

    def _exists(self, call: Call, test: Callable[[Hub, str], bool]) -> web.StreamResponse:
        res, hub = self._begin(call)
        with self.world.lock:
            # Hub names are case-insensitive; a hub the world does not list has no connections.
            state = next((h for name, h in res.hubs.items() if name.lower() == hub.lower()), None)
            found = state is not None and test(state, call.group("id"))
        return web.Response(status=200 if found else 404)

    def _begin(self, call: Call) -> tuple[WebPubSub, str]:
        """Authenticate, then check api-version and hub name; the resource and hub."""
        res = self.world.resource_by_host(call.host)
        assert res is not None  # matches() answered only for resources in the world
        refusal = self._refusal(call, res)
        if refusal:
            resource_logs.http_request(self.world, res, call.request.method, call.request.path, 401,
                                       call.request.remote or "")
            raise BadRequest(refusal, "Unauthorized", 401)
        version = call.request.query.get("api-version", "")
        if not API_VERSION.match(version):
            raise BadRequest(f"api-version {version!r} is missing or not a version of the REST API.", "InvalidRequest")
        hub = call.group("hub")
        if not HUB_NAME.match(hub):
            raise BadRequest(f"Hub name {hub!r} must start with a letter and contain only letters, digits "
                             "or underscores.", "InvalidRequest")
        return res, hub

    def _refusal(self, call: Call, res: WebPubSub) -> str | None:
        """Why the caller is not authenticated, or None when it is."""
        header = call.request.headers.get("Authorization", "")
        if verify_token(header, ENTRA_AUDIENCE):
            return None
        if not header.lower().startswith("bearer "):
            return "The request carries no bearer token."
        url = f"https://{call.host}{call.request.raw_path}"
        audiences = [url, url.split("?", 1)[0]]
        with self.world.lock:
            keys, local_auth_disabled = res.current_keys(), res.disable_local_auth
        for key in keys:
            try:
                jwt.decode(header[7:].strip(), key, algorithms=["HS256"], audience=audiences)
            except jwt.PyJWTError:
                continue
            return "Local authentication is disabled for this resource; use Microsoft Entra ID." \
                if local_auth_disabled else None
        return "The access token is not valid: it is not signed with a current access key, or has expired, " \
               "or its audience is not the request URL."
