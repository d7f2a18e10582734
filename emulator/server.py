"""The emulator's processes: a CONNECT proxy, an HTTPS server for every emulated host, and a
plain-HTTP loopback server for the managed identity endpoint and the admin API.

Clients reach Azure hostnames through HTTPS_PROXY; the proxy refuses every host the scenario does
not define and never opens a connection beyond loopback (it only tunnels to our own server).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Callable

import jwt
from aiohttp import web

from .faults import Fault, Plan
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
    faults: str = ""  # ids of the fault rules that acted on this call

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
                                      service.name if service else "unknown", labels.get("op", ""), caller,
                                      labels.get("faults", "")))
        return response

    async def _serve(self, service: Service, request: web.Request,
                     labels: dict[str, str]) -> tuple[web.StreamResponse, str]:
        found = service.find(request.method, request.path)
        if found:
            labels["op"] = found[0].op
        body = await request.read()
        plan = self.world.faults.plan(service.name, labels.get("op", ""), request.method,
                                      (request.host or "").split(":")[0].lower(), request.path, body)
        if plan.ids:
            labels["faults"] = ",".join(plan.ids)
        faulted = await apply_before(plan, request, lambda f: service.fault_response(request, body, f),
                                     lambda: service.received(request, body, RESET))
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
        call = Call(request, self.world, match, body, claims, labels, plan)
        try:
            response = await route.handler(call)
        except BadRequest as exc:
            response = service.error(exc.status, exc.code, str(exc))
        response.headers.update(throttled_headers)
        response.headers.setdefault("x-ms-request-id", secrets.token_hex(16))
        return await self._after(plan, request, response), caller

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

    async def _after(self, plan: Plan, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """Faults that act on an answer: partial log results, a deletion, a trickled body."""
        if plan.partial and response.status == 200 and isinstance(response, web.Response) and response.body:
            data = json.loads(response.body)  # type: ignore[arg-type]
            data["error"] = {"code": "PartialError", "message": "There were some errors when processing your query.",
                             "details": [{"code": "EngineError", "message": m} for m in plan.partial]}
            response.body = json.dumps(data).encode()
        for name in plan.delete:
            with contextlib.suppress(KeyError):
                res = self.world.resource(name) if name.startswith("/") else self.world.resource_by_name(name)
                self.world.delete_resource(res.id)  # type: ignore[union-attr]
        if plan.trickle_bps and isinstance(response, web.Response) and response.body:
            return await _trickle(request, response, plan.trickle_bps)
        return response


async def apply_before(plan: Plan, request: web.Request, error: Callable[[Fault], web.StreamResponse],
                       unanswered: Callable[[], None] = lambda: None) -> web.StreamResponse | None:
    """Latency, then the call's final fault if any: a hang, a reset or an error status.
    `unanswered` notes a call that may get no answer (a hang or a reset) as received all the same."""
    if plan.delay:
        await asyncio.sleep(plan.delay)
    fault = plan.final
    if fault is None:
        return None
    if fault.hang is True or fault.reset:
        unanswered()
    if fault.hang:
        await asyncio.sleep(fault.hang_seconds())  # `hang: true` outlasts the client's read timeout
    if fault.reset:
        _reset(request.transport)
        return web.Response(status=RESET)
    return error(fault) if fault.status else None


RESET = 0  # what the journal records for a call answered with a TCP reset (no status went out)


def _reset(transport: asyncio.BaseTransport | None) -> None:
    """Close with RST rather than FIN: the client sees ECONNRESET, as from a dropped load balancer."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _trickle(request: web.Request, response: web.Response, bytes_per_second: int) -> web.StreamResponse:
    """The answer's body dribbled out: each read gets a few bytes in time, the whole takes long."""
    body: bytes = response.body  # type: ignore[assignment]
    out = web.StreamResponse(status=response.status, headers=response.headers)
    out.content_length = len(body)
    await out.prepare(request)
    chunk = max(1, bytes_per_second // 4)
    for i in range(0, len(body), chunk):
        await out.write(body[i:i + chunk])
        await asyncio.sleep(chunk / bytes_per_second)
    await out.write_eof()
    return out


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
        if host in self.world.gone_hosts and not self.world.knows_host(host):
            self._log(host, 502)  # a deleted resource's name no longer resolves
            await self._refuse(writer, "502 Failed to resolve host", f"{host}: failed to resolve host (deleted)")
            return
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
    except ConnectionResetError:
        _reset(writer.transport)  # pass a reset through the tunnel as a reset
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
