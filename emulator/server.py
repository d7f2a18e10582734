"""The emulator's processes: a CONNECT proxy, an HTTPS server for every emulated host, and a
plain-HTTP loopback server for the managed identity endpoint and the admin API.

Clients reach Azure hostnames through HTTPS_PROXY; the proxy refuses every host the scenario does
not define and never opens a connection beyond loopback (it only tunnels to our own server).
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import jwt
from aiohttp import web

from .services.base import BadRequest, Call, Service
from .tls import Authority
from .world import World, utcnow

TOKEN_SECRET = secrets.token_bytes(32)
TOKEN_LIFETIME = 3600


@dataclass
class JournalEntry:
    at: datetime
    method: str
    host: str
    path: str
    query: str
    status: int
    duration_ms: float
    service: str
    op: str = ""
    caller: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


@dataclass
class Journal:
    entries: list[JournalEntry] = field(default_factory=list)

    def add(self, entry: JournalEntry) -> None:
        self.entries.append(entry)  # list.append is atomic under the GIL

    def __iter__(self):
        return iter(list(self.entries))

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> None:
        self.entries.clear()

    def where(self, **match: Any) -> list[JournalEntry]:
        return [e for e in list(self.entries) if all(
            (v(getattr(e, k)) if callable(v) else getattr(e, k) == v) for k, v in match.items())]

    def writes(self) -> list[JournalEntry]:
        """Every state-changing call to an Azure service (customer hosts excluded)."""
        return [e for e in list(self.entries) if e.service not in ("customer", "identity") and (
            e.method in ("PUT", "PATCH", "DELETE") or (e.method == "POST" and e.op in WRITE_OPS))]


# POSTs that change state or spend ARM write budget (metrics/log queries are POST reads).
WRITE_OPS = frozenset({"arm.listKeys", "arm.regenerateKey", "keyvault.setSecret",
                       "web.refreshReferences", "web.restart"})


def issue_token(world: World, audience: str) -> dict[str, Any]:
    resource = audience.removesuffix("/.default").rstrip("/")
    now = int(time.time())
    claims = {"aud": resource, "iss": f"https://sts.windows.net/{world.tenant_id}/", "tid": world.tenant_id,
              "oid": world.principal_id, "sub": world.principal_id, "iat": now, "nbf": now,
              "exp": now + TOKEN_LIFETIME, "idtyp": "app"}
    return {"access_token": jwt.encode(claims, TOKEN_SECRET, algorithm="HS256"),
            "expires_on": str(now + TOKEN_LIFETIME), "resource": resource, "token_type": "Bearer",
            "client_id": world.principal_id}


def verify_token(header: str | None, audience: str) -> dict[str, Any] | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    try:
        return jwt.decode(header[7:].strip(), TOKEN_SECRET, algorithms=["HS256"],
                          audience=[audience.rstrip("/"), audience.rstrip("/") + "/"])
    except jwt.PyJWTError:
        return None


class HttpsApp:
    """Dispatches every TLS-terminated request by Host to a service; common concerns first."""

    def __init__(self, world: World, services: list[Service], journal: Journal) -> None:
        self.world = world
        self.services = services
        self.journal = journal

    def service_for(self, host: str) -> Service | None:
        return next((s for s in self.services if s.matches(host)), None)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        host = (request.host or "").split(":")[0].lower()
        service = self.service_for(host)
        labels: dict[str, str] = {}
        caller = ""
        if service is None:
            response: web.StreamResponse = web.json_response(
                {"error": {"code": "EmulatorUnknownHost",
                           "message": f"the emulator's scenario {self.world.name!r} defines no host {host!r}"}},
                status=421)
        else:
            response, caller = await self._serve(service, request, labels)
        self.journal.add(JournalEntry(utcnow(), request.method, host, request.path, request.query_string,
                                      response.status, round((time.perf_counter() - started) * 1000, 2),
                                      service.name if service else "unknown", labels.get("op", ""), caller))
        return response

    async def _serve(self, service: Service, request: web.Request,
                     labels: dict[str, str]) -> tuple[web.StreamResponse, str]:
        found = service.find(request.method, request.path)
        if found:
            labels["op"] = found[0].op
        faulted = await self._faults(service)
        if faulted is not None:
            return faulted, ""
        claims = None
        if service.audience:
            for audience in (service.audience, *service.other_audiences):
                claims = verify_token(request.headers.get("Authorization"), audience)
                if claims is not None:
                    break
            if claims is None:
                return self._unauthorized(service, request), ""
        caller = (claims or {}).get("oid", "")
        throttled_headers: dict[str, str] = {}
        if service.name == "arm" and self.world.arm_throttling:
            sub = _subscription_of(request.path)
            write = request.method not in ("GET", "HEAD")  # ARM counts POST actions (listKeys) as writes
            ok, retry_after, remaining = self.world.take_arm_token(sub, caller, write)
            header = f"x-ms-ratelimit-remaining-subscription-{'writes' if write else 'reads'}"
            if not ok:
                return service.error(429, "TooManyRequests",
                                     "The request is being throttled as the limit has been reached for operation type"
                                     f" - {'Write' if write else 'Read'}.",
                                     headers={"Retry-After": str(max(1, round(retry_after))), header: "0"}), caller
            throttled_headers[header] = str(remaining)
        if found is None:
            return service.error(404, "NotFound", f"no such operation: {request.method} {request.path}"), caller
        route, match = found
        call = Call(request, self.world, match, await request.read(), claims, labels)
        try:
            response = await route.handler(call)
        except BadRequest as exc:
            response = service.error(exc.status, exc.code, str(exc))
        response.headers.update(throttled_headers)
        response.headers.setdefault("x-ms-request-id", secrets.token_hex(16))
        return response, caller

    def _unauthorized(self, service: Service, request: web.Request) -> web.Response:
        authority = f"https://login.microsoftonline.com/{self.world.tenant_id}"
        if service.name == "keyvault":
            challenge = f'Bearer authorization="{authority}", resource="{service.audience}"'
            if request.headers.get("Authorization"):
                return service.error(401, "Unauthorized", "AKV10022: Invalid audience or token.",
                                     headers={"WWW-Authenticate": challenge})
            return service.error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                                 headers={"WWW-Authenticate": challenge})
        code = "InvalidAuthenticationToken" if request.headers.get("Authorization") else "AuthenticationFailed"
        return service.error(401, code, f"A valid bearer token for audience {service.audience} is required.",
                             headers={"WWW-Authenticate": f'Bearer authorization_uri="{authority}", '
                                                          f'error="invalid_token"'})

    async def _faults(self, service: Service) -> web.Response | None:
        faults = self.world.faults.get(service.name)
        if faults is None:
            return None
        with self.world.lock:
            faults.calls += 1
            n = faults.calls
            delay = faults.latency(self.world.rng)
            roll = self.world.rng.random()
        if delay:
            await asyncio.sleep(delay)
        if roll < faults.timeout_rate:
            await asyncio.sleep(600)  # the client's timeout ends this call
        if faults.throttle_every and n % faults.throttle_every == 0:
            status = 529 if service.name == "metrics" else 429
            return service.error(status, "TooManyRequests", "Emulated throttling (scenario faults).",
                                 headers={"Retry-After": str(faults.retry_after)})
        if roll < faults.timeout_rate + faults.error_rate:
            return service.error(503, "ServiceUnavailable", "Emulated transient failure (scenario faults).")
        return None


def _subscription_of(path: str) -> str:
    parts = path.split("/")
    return parts[2].lower() if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""


class Proxy:
    """HTTP CONNECT proxy on 127.0.0.1. Known hosts are tunnelled to our HTTPS server."""

    def __init__(self, world: World, https_port: int, journal: Journal) -> None:
        self.world = world
        self.https_port = https_port
        self.journal = journal

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            writer.close()
            return
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            await self._refuse(writer, "405 Method Not Allowed",
                               "the emulator proxy only tunnels HTTPS (CONNECT host:443)")
            return
        host = parts[1].rsplit(":", 1)[0].strip("[]").lower()
        if not self.world.knows_host(host):
            self._log(host, 403)
            await self._refuse(writer, "403 Host Not In Scenario",
                               f"the Azure emulator (scenario {self.world.name!r}) does not define host {host!r}; "
                               "it never connects beyond loopback. Add the host to the scenario's hosts.")
            return
        customer = self.world.hosts.get(host)
        if customer is not None and customer.behaviour in ("dns", "refused"):
            self._log(host, 502)
            reason = "Failed to resolve host" if customer.behaviour == "dns" else "Connection refused"
            await self._refuse(writer, f"502 {reason}", f"{host}: {reason.lower()} (scenario behaviour)")
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        if customer is not None and customer.behaviour == "timeout":
            self._log(host, 0)
            with contextlib.suppress(Exception):
                await reader.read()  # hold the tunnel open, answer nothing, until the client gives up
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.https_port)
        except OSError:
            writer.close()
            return
        with contextlib.suppress(asyncio.CancelledError):  # the emulator is stopping
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def _log(self, host: str, status: int) -> None:
        self.journal.add(JournalEntry(utcnow(), "CONNECT", host, "", "", status, 0.0, "proxy"))

    @staticmethod
    async def _refuse(writer: asyncio.StreamWriter, status: str, message: str) -> None:
        body = message.encode()
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                     "Connection: close\r\n\r\n".encode() + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def tls_context(authority: Authority, world: World):
    """A server context that picks the leaf certificate by SNI; `tls` hosts get an untrusted one."""
    base = authority.context_for("management.azure.com")

    def pick(sslobj, server_name, _ctx):  # noqa: ANN001 - ssl's callback signature
        if server_name:
            customer = world.hosts.get(server_name.lower())
            sslobj.context = authority.context_for(server_name.lower(),
                                                   trusted=not (customer and customer.behaviour == "tls"))

    base.sni_callback = pick
    return base
