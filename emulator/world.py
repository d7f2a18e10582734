"""The emulated Azure estate: mutable state that every service reads and changes.

Built from a scenario (scenario.py). One lock guards it: services run on one event loop, but the
control API (tests, admin endpoint) mutates it from other threads.
"""
from __future__ import annotations

import base64
import hashlib
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from . import clock

from .faults import FaultSet

RESOURCE_TYPE = "Microsoft.SignalRService/WebPubSub"
PER_UNIT = {"Free_F1": 20, "Standard_S1": 1000, "Premium_P1": 1000, "Premium_P2": 1000}
TIERS = {"Free_F1": "Free", "Standard_S1": "Standard", "Premium_P1": "Premium", "Premium_P2": "Premium"}
ALLOWED_UNITS = {
    "Free_F1": (1,),
    "Standard_S1": tuple(range(1, 11)) + tuple(range(20, 101, 10)),
    "Premium_P1": tuple(range(1, 11)) + tuple(range(20, 101, 10)),
    "Premium_P2": tuple(range(100, 1001, 100)),
}


def utcnow() -> datetime:
    return clock.now()  # real time, moved forward by time travel (emulator/clock.py)


def arm_id(subscription: str, group: str, resource_type: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{resource_type}/{name}"


def derive_key(seed: str, name: str, which: str, generation: int) -> str:
    """Deterministic 44-char base64 access key, like Azure's."""
    digest = hashlib.sha256(f"{seed}|{name}|{which}|{generation}".encode()).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Series:
    """A per-minute metric series. kind: constant | ramp | values | follows."""

    kind: str
    value: float = 0.0
    start: float = 0.0
    end: float = 0.0
    over_minutes: int = 60
    values: list[float] = field(default_factory=list)

    def at(self, minutes_ago: int) -> float | None:
        if self.kind == "constant":
            return self.value
        if self.kind == "ramp":
            if minutes_ago >= self.over_minutes:
                return self.start
            frac = 1 - minutes_ago / self.over_minutes
            return self.start + (self.end - self.start) * frac
        if self.kind == "values":
            index = len(self.values) - 1 - minutes_ago
            return self.values[index] if 0 <= index < len(self.values) else None
        raise ValueError(f"series kind {self.kind!r} has no value on its own")


@dataclass
class EventHandler:
    url_template: str
    user_event_pattern: str | None = "*"
    system_events: list[str] = field(default_factory=list)
    auth: dict[str, Any] = field(default_factory=lambda: {"type": "None"})


@dataclass
class Hub:
    name: str
    event_handlers: list[EventHandler] = field(default_factory=list)
    anonymous_connect_policy: str = "deny"
    # Live client connections (data plane): connection id -> user id, and group -> connection ids.
    connections: dict[str, str | None] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class DiagnosticSetting:
    name: str
    workspace_id: str  # ARM id of the workspace
    categories: list[str]


@dataclass
class WebPubSub:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    sku: str
    capacity: int
    tags: dict[str, str] = field(default_factory=dict)
    disable_local_auth: bool = False
    public_network_access: str = "Enabled"
    provisioning_state: str = "Succeeded"
    resource_stopped: bool = False
    private_endpoints: dict[str, str] = field(default_factory=dict)  # connection name -> status
    # networkACLs: default action and the public network's allow/deny request types
    acl_default: str = "Deny"
    acl_allow: list[str] = field(default_factory=lambda: ["ServerConnection", "ClientConnection", "RESTAPI", "Trace"])
    acl_deny: list[str] = field(default_factory=list)
    hubs: dict[str, Hub] = field(default_factory=dict)
    diagnostics: list[DiagnosticSetting] = field(default_factory=list)
    metrics: dict[str, Series] = field(default_factory=dict)  # "TotalConnectionCount", "ConnectionCloseCount/Throttled"
    demand: float | None = None  # connections wanted: with it, connection metrics follow capacity
    key_generation: dict[str, int] = field(default_factory=lambda: {"primary": 1, "secondary": 1})
    seed: str = "emulator"
    created_at: datetime = field(default_factory=utcnow)

    @property
    def id(self) -> str:
        return arm_id(self.subscription_id, self.resource_group, RESOURCE_TYPE, self.name)

    @property
    def host(self) -> str:
        return f"{self.name.lower()}.webpubsub.azure.com"

    @property
    def tier(self) -> str:
        return TIERS[self.sku]

    @property
    def cap(self) -> int:
        return PER_UNIT[self.sku] * self.capacity

    def key(self, which: str, generation: int | None = None) -> str:
        gen = self.key_generation[which] if generation is None else generation
        return derive_key(self.seed, self.id.lower(), which, gen)

    def stale_key(self, which: str = "primary") -> str:
        """A key this resource had before its last regeneration."""
        return self.key(which, self.key_generation[which] - 1)

    def connection_string(self, which: str) -> str:
        return f"Endpoint=https://{self.host};AccessKey={self.key(which)};Version=1.0;"

    def current_keys(self) -> tuple[str, str]:
        return self.key("primary"), self.key("secondary")

    def metric(self, name: str, minutes_ago: int, category: str | None = None) -> float | None:
        """Value of a metric (a close category for ConnectionCloseCount) `minutes_ago` minutes back."""
        if self.demand is not None:
            if name == "TotalConnectionCount":
                return float(min(self.demand, self.cap))
            if name == "ConnectionQuotaUtilization":
                return round(100.0 * min(self.demand, self.cap) / self.cap, 2)
            if name == "ConnectionCloseCount" and category == "Throttled":
                return float(math.ceil(max(0.0, self.demand - self.cap) / 10))
        key = f"{name}/{category}" if category else name
        series = self.metrics.get(key)
        return series.at(minutes_ago) if series else None

    def close_categories(self) -> list[str]:
        cats = {k.split("/", 1)[1] for k in self.metrics if k.startswith("ConnectionCloseCount/")}
        if self.demand is not None:
            cats.add("Throttled")
        return sorted(cats)


@dataclass
class Replica(WebPubSub):
    """A Premium resource's replica (WebPubSub/replicas): its own region, SKU, units and metrics."""

    parent: str = ""  # the parent resource's name

    @property
    def id(self) -> str:
        return f"{arm_id(self.subscription_id, self.resource_group, RESOURCE_TYPE, self.parent)}/replicas/{self.name}"


@dataclass
class SecretVersion:
    version: str
    value: str
    enabled: bool = True
    content_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    expires: datetime | None = None
    not_before: datetime | None = None
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)


@dataclass
class Vault:
    name: str
    subscription_id: str
    resource_group: str
    secrets: dict[str, list[SecretVersion]] = field(default_factory=dict)  # name -> versions, oldest first
    forbidden: bool = False  # the caller may not read this vault at all
    forbidden_secrets: set[str] = field(default_factory=set)
    read_only: bool = False  # the caller may read but not set
    on_set: Callable[["Vault", str, SecretVersion], None] | None = field(default=None, repr=False)  # eventgrid.py

    @property
    def url(self) -> str:
        return f"https://{self.name}.vault.azure.net"

    def set_secret(self, name: str, value: str, content_type: str | None = None,
                   tags: dict[str, str] | None = None, enabled: bool = True,
                   expires: datetime | None = None, not_before: datetime | None = None) -> SecretVersion:
        version = SecretVersion(version=uuid.uuid4().hex, value=value, enabled=enabled,
                                content_type=content_type, tags=dict(tags or {}), expires=expires,
                                not_before=not_before)
        self.secrets.setdefault(name, []).append(version)
        if self.on_set is not None:
            self.on_set(self, name, version)
        return version

    def latest(self, name: str) -> SecretVersion | None:
        versions = self.secrets.get(name)
        return versions[-1] if versions else None


@dataclass
class Workspace:
    name: str
    subscription_id: str
    resource_group: str
    customer_id: str
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # rows with TimeGenerated datetimes
    partial_error: str | None = None  # answer PartialError with this message
    forbidden: bool = False

    @property
    def id(self) -> str:
        return arm_id(self.subscription_id, self.resource_group, "Microsoft.OperationalInsights/workspaces", self.name)


@dataclass
class AutoscaleSetting:
    name: str
    subscription_id: str
    resource_group: str
    location: str
    target_resource_id: str
    enabled: bool = True
    minimum: int = 1
    maximum: int = 5
    default: int = 1

    @property
    def id(self) -> str:
        return arm_id(self.subscription_id, self.resource_group, "Microsoft.Insights/autoscalesettings", self.name)


@dataclass
class Delivery:
    """A request a customer host received."""

    at: datetime
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        import json
        return json.loads(self.body)


@dataclass
class CustomerHost:
    """A host of the customer's own: an event handler, a Teams Workflows webhook, a webhook.

    behaviour: ok | status | missing-origin | timeout | refused | dns | tls | redirect (`status`, to
    `location`) | trickle (headers, then a body one byte at a time) | flood (a 1 GiB body)
    `fail_times`: answer `status` this many times, then behave as ok (a recovering target).
    `addresses`: what the host resolves to (emulator/dns.py; default a TEST-NET-2 address).
    """

    host: str
    kind: str = "handler"  # handler | teams | webhook
    behaviour: str = "ok"
    status: int = 500
    fail_times: int | None = None
    retry_after: int | None = None
    addresses: list[str] = field(default_factory=list)
    location: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass
class TokenBucket:
    capacity: float
    refill_per_second: float
    tokens: float = -1.0
    updated: float = field(default_factory=time.monotonic)

    def take(self) -> tuple[bool, float, int]:
        """(allowed, retry_after_seconds, remaining)."""
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = self.capacity
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill_per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True, 0.0, int(self.tokens)
        return False, (1 - self.tokens) / self.refill_per_second, 0


@dataclass
class Denial:
    """A permission the caller lacks. service: arm | metrics | logs | keyvault; scope: an id prefix or vault."""

    service: str
    scope: str = ""
    action: str = ""  # e.g. Microsoft.SignalRService/WebPubSub/listKeys/action
    role: str = ""


# Who changes the world through the control API: a person in the portal, as far as Azure can tell.
OUT_OF_BAND_CALLER = "admin@contoso.com"


@dataclass
class ActivityEvent:
    """One entry of the subscription's activity log (Administrative category)."""

    at: datetime
    resource_id: str
    operation: str  # e.g. Microsoft.SignalRService/WebPubSub/regenerateKey/action
    caller: str
    status: str = "Succeeded"
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class World:
    name: str
    tenant_id: str
    subscriptions: list[str]
    principal_id: str = "11111111-2222-3333-4444-555555555555"
    resources: dict[str, WebPubSub] = field(default_factory=dict)  # lower-case id -> resource
    vaults: dict[str, Vault] = field(default_factory=dict)  # name -> vault
    workspaces: dict[str, Workspace] = field(default_factory=dict)  # lower-case id -> workspace
    autoscale: list[AutoscaleSetting] = field(default_factory=list)
    metric_alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-case id -> ARM body
    replicas: dict[str, Replica] = field(default_factory=dict)  # lower-case replica id -> replica
    resource_groups: set[str] = field(default_factory=set)  # "<sub>/<rg>", lower-case: ARM's 404s need them
    activity: list[ActivityEvent] = field(default_factory=list)  # oldest first
    sites: dict[str, Any] = field(default_factory=dict)  # lower-case id -> emulator.sites.Site (App Service)
    hosts: dict[str, CustomerHost] = field(default_factory=dict)
    faults: FaultSet = field(init=False, repr=False)  # fault rules (faults.py)
    denials: list[Denial] = field(default_factory=list)
    gone_hosts: set[str] = field(default_factory=set)  # data-plane hosts of deleted resources: no DNS
    arm_throttling: bool = False
    arm_reads_burst: int = 250
    arm_reads_per_second: float = 25
    arm_writes_burst: int = 200
    arm_writes_per_second: float = 10
    page_size: int = 50  # ARM list page size (nextLink)
    operation_seconds: float = 1.0  # how long a scale or regenerate operation runs
    seed: int = 7
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    buckets: dict[tuple[str, str, str], TokenBucket] = field(default_factory=dict, repr=False)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)  # operation id -> state
    event_grid: dict[str, Any] = field(default_factory=dict)  # scenario's event_grid: (emulator/eventgrid.py)
    on_activity: list[Callable[[ActivityEvent], None]] = field(default_factory=list, repr=False)  # eventgrid.py

    def __post_init__(self) -> None:
        self.faults = FaultSet(self)

    # -- lookups -----------------------------------------------------------------------------

    def resource(self, resource_id: str) -> WebPubSub | None:
        return self.resources.get(resource_id.rstrip("/").lower())

    def metered(self, resource_id: str) -> WebPubSub | None:
        """A resource or replica by id: whatever the metrics API can be asked about."""
        rid = resource_id.rstrip("/").lower()
        return self.resources.get(rid) or self.replicas.get(rid)

    def resource_by_host(self, host: str) -> WebPubSub | None:
        host = host.lower()
        return next((r for r in self.resources.values() if r.host == host), None)

    def resource_by_name(self, name: str) -> WebPubSub:
        for res in self.resources.values():
            if res.name.lower() == name.lower():
                return res
        raise KeyError(f"no Web PubSub resource named {name!r} in scenario {self.name!r}")

    def vault_by_host(self, host: str) -> Vault | None:
        return self.vaults.get(host.lower().split(".", 1)[0])

    def workspace(self, id_or_customer_id: str) -> Workspace | None:
        key = id_or_customer_id.rstrip("/").lower()
        if key in self.workspaces:
            return self.workspaces[key]
        return next((w for w in self.workspaces.values() if w.customer_id.lower() == key), None)

    def denial(self, service: str, scope: str, action: str = "") -> Denial | None:
        scope = scope.lower()
        for d in self.denials:
            if d.service == service and scope.startswith(d.scope.lower()) and (
                    not d.action or not action or d.action.lower() == action.lower()):
                return d
        return None

    def knows_host(self, host: str) -> bool:
        """Every host the emulator answers; anything else is refused by the proxy."""
        host = host.lower()
        if host in self.hosts or host in FIXED_HOSTS:
            return True
        if host.endswith(".metrics.monitor.azure.com"):
            return True
        if host.endswith(".vault.azure.net"):
            return self.vault_by_host(host) is not None
        if host.endswith(".webpubsub.azure.com"):
            return self.resource_by_host(host) is not None
        return False

    # -- behaviour over time (the control API calls these too) -------------------------------

    def regenerate_key(self, resource_id: str, which: str, caller: str = OUT_OF_BAND_CALLER) -> None:
        with self.lock:
            res = self.resource(resource_id)
            if res is None:
                raise KeyError(resource_id)
            which = which.lower()
            res.key_generation[which] += 1
            self.record_activity(res.id, f"{RESOURCE_TYPE}/regenerateKey/action", caller)

    def set_capacity(self, resource_id: str, capacity: int, caller: str = OUT_OF_BAND_CALLER) -> None:
        with self.lock:
            res = self.resource(resource_id)
            if res is None:
                raise KeyError(resource_id)
            res.capacity = capacity
            res.provisioning_state = "Succeeded"
            self.record_activity(res.id, f"{RESOURCE_TYPE}/write", caller)

    def delete_resource(self, resource_id: str, caller: str = OUT_OF_BAND_CALLER) -> None:
        """Gone as after a portal delete: ARM answers 404, its data-plane host no longer resolves."""
        with self.lock:
            res = self.resources.pop(resource_id.rstrip("/").lower(), None)
            if res is None:
                raise KeyError(resource_id)
            self.autoscale = [a for a in self.autoscale if a.target_resource_id.lower() != res.id.lower()]
            self.gone_hosts.add(res.host)
        self.record_activity(res.id, f"{RESOURCE_TYPE}/delete", caller)

    def record_activity(self, resource_id: str, operation: str, caller: str) -> None:
        event = ActivityEvent(utcnow(), resource_id, operation, caller)
        with self.lock:
            self.activity.append(event)
            listeners = list(self.on_activity)
        for listener in listeners:
            listener(event)

    def take_arm_token(self, subscription: str, caller: str, write: bool) -> tuple[bool, float, int]:
        kind = "writes" if write else "reads"
        with self.lock:
            bucket = self.buckets.get((subscription, caller, kind))
            if bucket is None:
                bucket = TokenBucket(self.arm_writes_burst if write else self.arm_reads_burst,
                                     self.arm_writes_per_second if write else self.arm_reads_per_second)
                self.buckets[(subscription, caller, kind)] = bucket
            return bucket.take()


# Azure hosts the emulator always answers (per-name hosts are checked against the world).
FIXED_HOSTS = frozenset({"management.azure.com", "api.loganalytics.io", "login.microsoftonline.com"})
