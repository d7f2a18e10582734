"""The fault model: rules that make an emulated service fail the way Azure fails.

A rule (`Fault`) matches calls by service, operation and optionally a resource; it fires on some of
the calls it matches (from the Nth, every Nth, at a seeded rate, for `times` calls or until removed)
and then does one or more things:
- `latency_ms`: answer late (a number, or {median, p99} of a log-normal);
- `hang`: never answer (true) or answer after that many seconds;
- `reset`: drop the connection with a TCP reset, no answer;
- `status`: answer that HTTP status in the service's own error shape (`code`/`message` default to
  what the service says for it); 429, 503 and 529 carry Retry-After (`retry_after`, default 1 s);
- `trickle_bps`: send the real answer dribbled at that many bytes per second;
- `partial` (logs): the real rows plus Log Analytics' PartialError with this message;
- `lro_seconds` (arm regenerateKey/update): the long-running operation stays InProgress that long;
- `lro` (arm regenerateKey/update): the long-running operation ends `Failed` (or `Canceled`) and
  changes nothing;
- `delete`: once the call is answered, the named Web PubSub resource is deleted.
The server (server.py) applies a call's `Plan`; scenarios declare rules under `faults:` and tests
add them at run time through `world.faults.add(...)` or the admin API.
"""
from __future__ import annotations

import math
import random
import re
import threading
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Iterator

import jsonschema

if TYPE_CHECKING:
    from .world import World

# Every operation name per service, as the routes label them (a test keeps this list true).
OPERATIONS: dict[str, tuple[str, ...]] = {
    "arm": ("listBySubscription", "listByResourceGroup", "get", "update", "listKeys", "regenerateKey", "listSkus",
            "listHubs", "getHub", "operation", "diagnosticSettings", "metrics", "autoscaleByResourceGroup",
            "autoscaleBySubscription", "activityLog", "listResources", "listResourcesByResourceGroup",
            "listResourceGroups",
            # Microsoft.Web sites (emulator/services/web.py), served by ARM under route names web.*
            "list", "references", "reference", "refreshReferences", "restart",
            # metric alert rules and Premium replicas (emulator/services/alerts.py, arm.py)
            "metricAlertsBySubscription", "getMetricAlert", "putMetricAlert", "listReplicas"),
    "metrics": ("getBatch",),
    "logs": ("query", "queryResource"),
    "keyvault": ("listSecrets", "listSecretVersions", "getSecret", "setSecret", "updateSecret"),
    "dataplane": ("health", "connectionExists", "userExists", "groupExists", "generateToken", "sendToAll"),
    "customer": ("options", "get", "post", "put"),
    "identity": ("token",),
}
SERVICES = tuple(OPERATIONS)
RETRY_AFTER_STATUSES = frozenset({429, 503, 529})

# The error code each service answers for a status (what Azure says; a rule's `code` overrides it).
_ARM_CODES = {400: "BadRequest", 403: "AuthorizationFailed", 404: "ResourceNotFound", 409: "Conflict",
              429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
              504: "GatewayTimeout", 529: "TooManyRequests"}
CODES: dict[str, dict[int, str]] = {
    "arm": _ARM_CODES,
    "metrics": _ARM_CODES,
    "logs": {400: "BadArgumentError", 403: "InsufficientAccessError", 404: "PathNotFoundError",
             429: "ThrottledError", 500: "InternalServerError", 503: "ServiceUnavailableError",
             504: "GatewayTimeout"},
    "keyvault": {400: "BadParameter", 403: "Forbidden", 404: "SecretNotFound", 409: "Conflict", 429: "Throttled",
                 500: "InternalServerError", 503: "ServiceUnavailable"},
    "dataplane": {403: "Forbidden", 404: "NotFound", 429: "TooManyRequests", 500: "InternalServerError",
                  503: "ServiceUnavailable"},
    "customer": {},
    "identity": {400: "invalid_request", 403: "unauthorized_client", 429: "too_many_requests",
                 500: "server_error", 503: "temporarily_unavailable"},
}
LRO_OPERATIONS = ("update", "regenerateKey")

_NUM = {"type": "number", "minimum": 0}
LATENCY_SCHEMA = {"oneOf": [_NUM, {"type": "object", "additionalProperties": False, "required": ["median"],
                                   "properties": {"median": _NUM, "p99": _NUM}}]}
RULE_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["service"], "properties": {
        "service": {"enum": list(SERVICES)},
        "operation": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "resource": {"type": "string", "minLength": 1},
        "from_call": {"type": "integer", "minimum": 1},
        "every": {"type": "integer", "minimum": 1},
        "rate": {"type": "number", "minimum": 0, "maximum": 1},
        "times": {"type": "integer", "minimum": 1},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string"},
        "message": {"type": "string"},
        "retry_after": {"type": "integer", "minimum": 0},
        "latency_ms": LATENCY_SCHEMA,
        "hang": {"oneOf": [{"type": "boolean"}, {"type": "number", "exclusiveMinimum": 0}]},
        "reset": {"type": "boolean"},
        "trickle_bps": {"type": "integer", "minimum": 1},
        "partial": {"type": "string"},
        "lro": {"enum": ["Failed", "Canceled"]},
        "lro_seconds": {"type": "number", "minimum": 0},
        "delete": {"type": "string", "minLength": 1},
    }}
EFFECTS = ("latency_ms", "hang", "reset", "status", "trickle_bps", "partial", "lro", "lro_seconds", "delete")
# The old per-service shorthand (`faults: {arm: {latency_ms: ..., throttle_every: 5}}`), still accepted.
SHORTHAND_SCHEMA: dict[str, Any] = {
    "type": "object", "propertyNames": {"enum": list(SERVICES)}, "additionalProperties": {
        "type": "object", "additionalProperties": False, "properties": {
            "latency_ms": LATENCY_SCHEMA, "throttle_every": {"type": "integer", "minimum": 0},
            "retry_after": {"type": "integer", "minimum": 0},
            "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "timeout_rate": {"type": "number", "minimum": 0, "maximum": 1}}}}
SCHEMA: dict[str, Any] = {"oneOf": [{"type": "array", "items": RULE_SCHEMA}, SHORTHAND_SCHEMA]}
HANG_SECONDS = 600.0  # `hang: true`: longer than any client's read timeout


class FaultError(ValueError):
    """A fault rule that cannot work; the message names the field."""


@dataclass
class Fault:
    service: str
    operation: tuple[str, ...] = ()  # op names, or one "METHOD /path-regex"; empty: every operation
    resource: str = ""  # name or id; matched in the host, the path or the body
    from_call: int = 1
    every: int = 0
    rate: float | None = None
    times: int | None = None
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: int | None = None
    latency_ms: float | dict[str, float] = 0.0
    hang: bool | float = False
    reset: bool = False
    trickle_bps: int = 0
    partial: str | None = None
    lro: str | None = None
    lro_seconds: float | None = None
    delete: str | None = None
    id: str = ""
    calls: int = 0  # calls it matched
    fired: int = 0  # calls it acted on
    _needles: tuple[re.Pattern[str], ...] = field(default=(), repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, service: str, op: str, method: str, text: str) -> bool:
        if service != self.service:
            return False
        if self.operation and not any(_op_matches(o, op, method, text) for o in self.operation):
            return False
        return not self._needles or any(n.search(text) for n in self._needles)

    def due(self) -> bool:
        """Counts a matching call; True if the rule acts on it."""
        self.calls += 1
        k = self.calls - self.from_call + 1
        if k < 1 or (self.times is not None and self.fired >= self.times):
            return False
        if self.every and k % self.every:
            return False
        if self.rate is not None and self._rng.random() >= self.rate:
            return False
        self.fired += 1
        return True

    def delay(self) -> float:
        if isinstance(self.latency_ms, dict):
            median, p99 = self.latency_ms["median"], self.latency_ms.get("p99", self.latency_ms["median"])
        else:
            median = p99 = self.latency_ms
        if median <= 0:
            return 0.0
        if p99 <= median:
            return median / 1000
        sigma = math.log(p99 / median) / 2.326
        return self._rng.lognormvariate(math.log(median), sigma) / 1000

    def hang_seconds(self) -> float:
        return HANG_SECONDS if self.hang is True else float(self.hang or 0)

    def error_code(self) -> str:
        return self.code or CODES[self.service].get(self.status or 0, "Error")

    def headers(self) -> dict[str, str]:
        if self.status in RETRY_AFTER_STATUSES:
            return {"Retry-After": str(1 if self.retry_after is None else self.retry_after)}
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    def to_json(self) -> dict[str, Any]:
        """The rule as a scenario would write it (set fields only), with its id and counters."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data = {k: v for k, v in data.items() if v not in (None, (), "", 0, False)}
        data.update(id=self.id, calls=self.calls, fired=self.fired, service=self.service)
        if self.operation:
            data["operation"] = list(self.operation)
        return data


@dataclass
class Plan:
    """What the faults that fired do to one call."""

    delay: float = 0.0
    final: Fault | None = None  # the first hang, reset or status: the call ends with it
    trickle_bps: int = 0
    partial: list[str] = field(default_factory=list)
    lro: Fault | None = None  # the rule that fails the operation
    lro_seconds: float | None = None
    delete: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        self.ids.append(fault.id)
        self.delay += fault.delay()
        if self.final is None and (fault.hang or fault.reset or fault.status):
            self.final = fault
        self.trickle_bps = fault.trickle_bps or self.trickle_bps
        if fault.partial is not None:
            self.partial.append(fault.partial)
        self.lro = self.lro or (fault if fault.lro else None)
        self.lro_seconds = fault.lro_seconds if fault.lro_seconds is not None else self.lro_seconds
        if fault.delete:
            self.delete.append(fault.delete)


class FaultSet:
    """The world's fault rules, in the order they were added. Thread-safe (the world's lock)."""

    def __init__(self, world: "World") -> None:
        self._world = world
        self._rules: list[Fault] = []
        self._added = 0

    @property
    def _lock(self) -> threading.RLock:
        return self._world.lock

    def add(self, **spec: Any) -> Fault:
        """Add one rule, e.g. add(service="metrics", operation="getBatch", status=403)."""
        spec = {k: v for k, v in spec.items() if v is not None}
        errors = sorted(jsonschema.Draft202012Validator(RULE_SCHEMA).iter_errors(spec), key=lambda e: e.path)
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(rule)"
            raise FaultError(f"fault {where}: {errors[0].message}")
        ops = spec.pop("operation", ())
        fault = Fault(operation=tuple([ops] if isinstance(ops, str) else ops), **spec)
        self._check(fault)
        with self._lock:
            self._added += 1
            fault.id = f"f{self._added}"
            fault._rng.seed(f"{self._world.seed}/{fault.id}")
            self._rules.append(fault)
        return fault

    def extend(self, rules: list[dict[str, Any]] | dict[str, Any]) -> list[Fault]:
        """Rules as a scenario writes them: a list, or the per-service shorthand."""
        if isinstance(rules, dict):
            rules = shorthand(rules)
        added = []
        for i, rule in enumerate(rules):
            try:
                added.append(self.add(**rule))
            except FaultError as exc:
                raise FaultError(f"faults/{i}: {exc}") from None
        return added

    def remove(self, fault: Fault | str) -> None:
        fid = fault if isinstance(fault, str) else fault.id
        with self._lock:
            before = len(self._rules)
            self._rules = [f for f in self._rules if f.id != fid]
            if len(self._rules) == before:
                raise KeyError(f"no fault {fid!r}")

    def clear(self, service: str | None = None) -> None:
        with self._lock:
            self._rules = [f for f in self._rules if service is not None and f.service != service]

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._rules))

    def __len__(self) -> int:
        return len(self._rules)

    def plan(self, service: str, op: str, method: str, host: str, path: str, body: bytes = b"") -> Plan:
        """Counts the call against every matching rule; what the rules that fire do to it."""
        plan = Plan()
        if not self._rules:
            return plan
        text = f"{host}{path}\n{body[:65536].decode('utf-8', 'replace')}".lower()
        short = op.split(".", 1)[-1]
        with self._lock:
            for fault in self._rules:
                if fault.matches(service, short, method, text) and fault.due():
                    plan.add(fault)
        return plan

    def _check(self, fault: Fault) -> None:
        """What the schema cannot say; resolves `resource` to what appears in requests."""
        if not any(getattr(fault, e) for e in EFFECTS) and fault.partial is None and fault.lro_seconds is None:
            raise FaultError(f"fault on {fault.service}: no effect; give one of {', '.join(EFFECTS)}")
        known = OPERATIONS[fault.service]
        for i, op in enumerate(fault.operation):
            if " " in op:
                try:
                    re.compile(op.split(" ", 1)[1])
                except re.error as exc:
                    raise FaultError(f"fault operation/{i}: bad path pattern: {exc}") from None
            elif _short(op, fault.service) not in known:
                raise FaultError(f"fault operation/{i}: {fault.service} has no operation {op!r}; "
                                 f"known: {', '.join(known)} (or 'METHOD /path-regex')")
        if fault.partial is not None and fault.service != "logs":
            raise FaultError("fault partial: only logs (Log Analytics) answers partial results")
        if (fault.lro or fault.lro_seconds is not None) and (fault.service != "arm" or not fault.operation or any(
                _short(o, "arm") not in LRO_OPERATIONS for o in fault.operation)):
            raise FaultError(f"fault lro/lro_seconds: needs service arm and operation among {', '.join(LRO_OPERATIONS)}")
        if fault.delete and not fault.delete.startswith("/"):
            try:
                self._world.resource_by_name(fault.delete)
            except KeyError as exc:
                raise FaultError(f"fault delete: {exc.args[0]}") from None
        fault._needles = self._needles(fault.resource) if fault.resource else ()

    def _needles(self, resource: str) -> tuple[re.Pattern[str], ...]:
        """A resource as requests show it: its id (paths, batch bodies) and host (data plane), whole."""
        if resource.startswith("/"):
            texts = [resource.rstrip("/")]
        else:
            try:
                res = self._world.resource_by_name(resource)
                texts = [res.id, res.host]
            except KeyError:
                texts = [resource]  # a vault, workspace or customer host: its name is in the host
        # Whole names only: chat must not match chat-prod (nor a.contoso.com b.a.contoso.com).
        return tuple(re.compile(("" if t.startswith("/") else r"(?<![\w.-])") + re.escape(t.lower()) + r"(?![\w-])")
                     for t in texts)


def shorthand(spec: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-service shorthand as rules: latency, hangs at a rate, throttling every Nth, 503s at a rate."""
    rules: list[dict[str, Any]] = []
    for service, s in spec.items():
        if s.get("latency_ms"):
            rules.append({"service": service, "latency_ms": s["latency_ms"]})
        if s.get("timeout_rate"):
            rules.append({"service": service, "rate": s["timeout_rate"], "hang": True})
        if s.get("throttle_every"):
            rules.append({"service": service, "every": s["throttle_every"],
                          "status": 529 if service == "metrics" else 429, "retry_after": s.get("retry_after", 1)})
        if s.get("error_rate"):
            rules.append({"service": service, "rate": s["error_rate"], "status": 503})
    return rules


def _short(op: str, service: str) -> str:
    for sep in (".", ":"):
        if op.lower().startswith(service + sep):
            return op[len(service) + 1:]
    return op


def _op_matches(pattern: str, op: str, method: str, text: str) -> bool:
    if " " in pattern:
        want, path = pattern.split(" ", 1)
        line = text.split("\n", 1)[0]
        return (want == "*" or want.upper() == method) and re.search(path, line, re.IGNORECASE) is not None
    return pattern.split(".", 1)[-1].split(":", 1)[-1].lower() == op.lower()
