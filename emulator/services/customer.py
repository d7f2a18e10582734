"""The customer's own hosts named in the scenario: event handlers, Teams Workflows webhooks and
generic webhooks. Every request is recorded as a Delivery; the answer follows the host's behaviour.
(dns, refused and timeout are played by the proxy, tls by the certificate: see server.py.)
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from ..faults import Fault
from ..world import Delivery, utcnow
from .base import Call, Service

TRICKLE_SECONDS = 0.1


class CustomerHosts(Service):
    name = "customer"

    def __init__(self, world) -> None:  # noqa: ANN001
        super().__init__(world)
        self.route("OPTIONS", r"(?P<path>/.*)", "customer.options")(self.answer)
        for method in ("GET", "POST", "PUT"):
            self.route(method, r"(?P<path>/.*)", f"customer.{method.lower()}")(self.answer)

    def matches(self, host: str) -> bool:
        return host in self.world.hosts

    async def answer(self, call: Call) -> web.StreamResponse:
        spec = self.world.hosts[call.host]
        status, headers = self._decide(call, spec)
        spec.deliveries.append(Delivery(utcnow(), call.request.method, call.request.path,
                                        call.request.query_string, dict(call.request.headers), call.body, status))
        if spec.behaviour in ("trickle", "flood"):
            return await self._stream(call, status, headers, spec.behaviour == "trickle")
        return web.Response(status=status, headers=headers)

    @staticmethod
    async def _stream(call: Call, status: int, headers: dict[str, str], trickle: bool) -> web.StreamResponse:
        """Headers at once, then a body: trickle, a promised megabyte one byte per
        TRICKLE_SECONDS (every read returns well within any read timeout; the whole answer takes
        days); flood, a gibibyte as fast as the client reads."""
        chunk, size = (b".", 1 << 20) if trickle else (b"x" * (1 << 16), 1 << 30)
        response = web.StreamResponse(status=status, headers={**headers, "Content-Length": str(size)})
        await response.prepare(call.request)
        try:
            for _ in range(size // len(chunk)):
                await response.write(chunk)
                if trickle:
                    await asyncio.sleep(TRICKLE_SECONDS)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client gave up, as it should
        return response
    def fault_response(self, request: web.Request, body: bytes, fault: Fault) -> web.StreamResponse:
        """A customer host's failure is still a delivery it received; its body is its own (empty)."""
        self.received(request, body, fault.status or 500)
        return web.Response(status=fault.status or 500, headers=fault.headers())

    def received(self, request: web.Request, body: bytes, status: int) -> None:
        """Recorded even when unanswered (status 0): the host may have acted on it, so a retry is a duplicate."""
        host = (request.host or "").split(":")[0].lower()
        self.world.hosts[host].deliveries.append(Delivery(utcnow(), request.method, request.path, request.query_string,
                                                          dict(request.headers), body, status))

    def _decide(self, call: Call, spec) -> tuple[int, dict[str, str]]:  # noqa: ANN001
        with self.world.lock:
            failing = spec.behaviour == "status"
            if failing and spec.fail_times is not None:
                failing = spec.fail_times > 0
                spec.fail_times -= 1 if failing else 0
        headers = {"Retry-After": str(spec.retry_after)} if failing and spec.retry_after is not None else {}
        if failing:
            return spec.status, headers
        if spec.behaviour == "redirect":
            return spec.status if 300 <= spec.status < 400 else 302, {"Location": spec.location or "/"}
        if spec.kind == "teams":
            return 202, {}
        if spec.kind == "webhook":
            return 200, {}
        # An event handler: the abuse-protection handshake answers OPTIONS with the allowed origin.
        if call.request.method == "OPTIONS":
            origin = call.request.headers.get("WebHook-Request-Origin")
            if spec.behaviour == "missing-origin" or not origin:
                return 200, {}
            return 200, {"WebHook-Allowed-Origin": origin}
        return 200, {}
