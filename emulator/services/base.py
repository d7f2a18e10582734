"""What an emulated service is: the hosts it answers, the token audience it demands, its routes.

The server (emulator/server.py) does everything common before a route runs: faults, ARM
throttling, bearer-token checks (a service with `audience` set never sees an unauthenticated
call, and Key Vault gets its challenge flow), and the journal. A route handler gets a `Call`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import web

from ..faults import Fault, Plan
from ..world import World

Handler = Callable[["Call"], Awaitable[web.StreamResponse]]


@dataclass
class Call:
    request: web.Request
    world: World
    match: re.Match[str]
    body: bytes
    caller: dict[str, Any] | None  # verified token claims; None for services without audience
    labels: dict[str, str] = field(default_factory=dict)  # e.g. op name, for the journal
    plan: Plan = field(default_factory=Plan)  # what fault rules do to this call (LRO outcome, ...)

    @property
    def host(self) -> str:
        return (self.request.host or "").split(":")[0].lower()

    def group(self, name: str) -> str:
        return self.match.group(name)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise BadRequest("the request body is not valid JSON") from None


class BadRequest(Exception):
    """Raised by a handler; the server answers 400 in the service's error format."""

    def __init__(self, message: str, code: str = "BadRequest", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    op: str  # a stable operation name for the journal and benchmarks, e.g. "arm.listKeys"


class Service:
    name: str = "service"
    audience: str | None = None  # bearer tokens must be issued for this resource
    other_audiences: tuple[str, ...] = ()  # further audiences the service accepts as well
    case_insensitive_paths = False

    def __init__(self, world: World) -> None:
        self.world = world
        self.routes: list[Route] = []

    def matches(self, host: str) -> bool:
        raise NotImplementedError

    def route(self, method: str, pattern: str, op: str) -> Callable[[Handler], Handler]:
        flags = re.IGNORECASE if self.case_insensitive_paths else 0
        compiled = re.compile(pattern + r"/?$", flags)

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, compiled, handler, op))
            return handler

        return register

    def find(self, method: str, path: str) -> tuple[Route, re.Match[str]] | None:
        for route in self.routes:
            if route.method == method:
                m = route.pattern.match(path)
                if m:
                    return route, m
        return None

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        """The service's error body. Azure's common shape; services override where theirs differs."""
        return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


    def fault_response(self, request: web.Request, body: bytes, fault: Fault) -> web.StreamResponse:
        """A fault rule's error status, in this service's error shape."""
        message = fault.message or (self.forbidden_message(request, body) if fault.status == 403 else None) or \
            DEFAULT_MESSAGES.get(fault.status or 0, "Emulated failure (fault {id}).").format(
                id=fault.id, path=request.path)
        return self.error(fault.status or 500, fault.error_code(), message, headers=fault.headers())

    def received(self, request: web.Request, body: bytes, status: int) -> None:
        """A call a fault answers (or leaves unanswered: status 0) reached the service; most need no note."""

    def forbidden_message(self, request: web.Request, body: bytes) -> str | None:
        """What this service says when the caller lacks the right a call needs (None: a generic text)."""
        return None


def authorization_failed(oid: str, action: str, scope: str) -> str:
    """ARM's (and Azure Monitor's) AuthorizationFailed text; clients read the action from it."""
    return (f"The client '{oid}' with object id '{oid}' does not have authorization to perform action '{action}' "
            f"over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your "
            "credentials.")


# Messages for fault statuses, in Azure's words where Azure has fixed ones.
DEFAULT_MESSAGES = {
    403: "The client does not have authorization to perform this action over scope '{path}' or the scope is "
         "invalid. (emulated fault {id})",
    404: "The resource '{path}' was not found. (emulated fault {id})",
    429: "The request is being throttled; retry after the interval in Retry-After. (emulated fault {id})",
    500: "The server encountered an internal error. Please retry the request. (emulated fault {id})",
    503: "The service is temporarily unavailable; retry after the interval in Retry-After. (emulated fault {id})",
    529: "The service is overloaded; retry after the interval in Retry-After. (emulated fault {id})",
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=lambda o: json.dumps(o, default=str))
