"""Plain data that flows one way through a sweep: collect -> diagnose -> plan -> act -> report.

Nothing here does I/O. Secrets never sit in a model as a printable string: keys and connection
strings are wrapped in `Sensitive`, whose str/repr are redacted, and are compared by fingerprint.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, TypedDict

from watchdog.models_logs import LogSignals
from watchdog.models_resource import Diagnostics, EventHandler, MetricAlertRule, Resource, WebSite

if TYPE_CHECKING:
    from watchdog.consumers import Consumer
    from watchdog.rotation import Observed as RotationObserved

# Fingerprints must compare across processes (the ledger keeps them between sweeps, cold starts
# and CLI runs), so the HMAC key is fixed rather than per process. That is safe because what is
# hashed is an Azure access key, 256 random bits: a 64-bit fingerprint of it cannot be reversed
# or guessed, keyed or not. The key only keeps these fingerprints from matching other tools' hashes.
_FINGERPRINT_KEY = b"webpubsub-watchdog/key-fingerprint/v1"


class Sensitive:
    """A key or connection string. Printing, logging or serialising it shows nothing secret."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self) -> str:
        """A keyed hash, first 16 hex chars: enough to compare, useless to attack."""
        return hmac.new(_FINGERPRINT_KEY, self._value.encode(), hashlib.sha256).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sensitive) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        return "Sensitive(<redacted>)"

    __str__ = __repr__

    def __reduce__(self):  # never pickled (e.g. into a queue message) by accident
        raise TypeError("Sensitive values are not serialisable")


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}: use info, warning or critical") from None


# --- observations: what collect/ saw, no verdicts -------------------------------------------


class ErrorKind(enum.StrEnum):
    """Why a collecting call gave nothing (ObservationError.kind)."""

    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not-found"
    THROTTLED = "throttled"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    ERROR = "error"
    DEFERRED = "deferred"  # a read the sweep chose not to make (ARM budget, sweep deadline)


@dataclass(frozen=True)
class ObservationError:
    """A call that failed. Becomes a blind-spot finding; never crashes a sweep."""

    source: str  # inventory, skus, keys, secrets, metrics, logs, diagnostics, autoscale, hubs, handlers, dataplane
    kind: str  # an ErrorKind value
    message: str  # already free of secrets and query strings
    resource_id: str | None = None
    subject: str | None = None  # e.g. a secret URI or workspace id
    status: int | None = None
    permission: str | None = None  # the Azure action or role that would fix a 403


@dataclass(frozen=True)
class KeyFingerprints:
    """Fingerprints of a resource's current access keys, as just read with listKeys."""

    primary: str
    secondary: str
    read_at: datetime


@dataclass(frozen=True)
class DataPlaneProof:
    """The service's answer to a harmless authenticated call made with a stored value."""

    status: int | None  # 404 or 200 = key accepted, 401 = rejected, None = no answer
    outcome: str  # accepted, rejected, unreachable, skipped
    detail: str = ""


@dataclass(frozen=True)
class BoundSecret:
    """A Key Vault secret that holds a resource's connection string, as read this sweep."""

    uri: str  # https://<vault>.vault.azure.net/secrets/<name> (no version)
    vault_url: str
    name: str
    version: str | None
    enabled: bool
    expires_on: datetime | None
    content_type: str | None
    tags: Mapping[str, str]
    updated_on: datetime | None = None
    # Parsed connection string; None where the value is not one.
    endpoint_host: str | None = None
    key_fingerprint: str | None = None
    parse_error: str | None = None
    has_value: bool = True
    proof: DataPlaneProof | None = None
    proved_at: datetime | None = None  # when `proof` was made: an earlier sweep's, if nothing changed since
    # Other resources (lower-case ids) whose tags claim this secret too: a conflicting binding,
    # which secret sync never writes (it would overwrite the secret back and forth every sweep).
    claimed_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricPoint:
    # Slots: a sweep holds one per resource, metric and minute (600,000 at 5,000 resources), and
    # a per-instance __dict__ would double their size. `time` is shared between points of the
    # same minute (collect/metrics.py interns it).
    time: datetime
    value: float | None


@dataclass(frozen=True)
class ResourceMetrics:
    """Per-minute series over the sweep window. Missing metric = key absent."""

    series: Mapping[str, tuple[MetricPoint, ...]] = field(default_factory=dict)  # "TotalConnectionCount:Maximum" -> points
    close_counts: Mapping[str, float] = field(default_factory=dict)  # ConnectionCloseCategory -> total in window
    window_minutes: int = 30


@dataclass(frozen=True)
class ReplicaObservation:
    """A replica of a Premium resource (its own region, SKU and units) and its own metrics."""

    replica: Resource  # id .../WebPubSub/<parent>/replicas/<name>; subscription and group of the parent
    metrics: ResourceMetrics | None = None  # None: not read (the error says why)


@dataclass(frozen=True)
class HandlerProbe:
    handler: EventHandler
    ok: bool
    cause: str | None = None  # dns, tls, timeout, connection, status, missing-allowed-origin, blocked, redirect
    status: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class HandlerLogError:
    """Event-handler failures found in resource logs, grouped by hub, event and status."""

    hub: str
    event: str
    status: str  # HTTP status as text, or the abuse-protection kind
    kind: str  # HttpHandlerUnexpectedResponse, AbuseProtectionResponseMissingAllowedOrigin, ...
    count: int
    last_seen: datetime | None = None
    sample: str = ""  # a redacted sample message


@dataclass(frozen=True)
class Observation:
    """Everything collected about one resource in one sweep."""

    resource: Resource
    allowed_capacities: tuple[int, ...] = ()
    keys: KeyFingerprints | None = None
    secrets: tuple[BoundSecret, ...] = ()
    metrics: ResourceMetrics | None = None
    diagnostics: Diagnostics | None = None
    autoscale: tuple[str, ...] | None = None  # names of autoscale settings targeting it; None = unknown
    handlers: tuple[EventHandler, ...] = ()
    hubs: tuple[str, ...] | None = None  # every hub setting's name; None = hubs not read
    alerts: tuple[MetricAlertRule, ...] | None = None  # metric alert rules scoped to it; None = not read
    handler_sites: tuple[WebSite, ...] | None = None  # sites its handlers run on; None = sites not read
    replicas: tuple[ReplicaObservation, ...] | None = None  # Premium only; None = not read (or not Premium)
    probes: tuple[HandlerProbe, ...] = ()
    log_errors: tuple[HandlerLogError, ...] | None = None  # None = logs not read
    log_signals: LogSignals | None = None  # connectivity figures from the logs; None = not read
    consumers: tuple[Consumer, ...] | None = None  # apps reading its bound secrets; None = not read
    rotation: RotationObserved | None = None  # key age and rotation record; None = not read (rotation off)
    errors: tuple[ObservationError, ...] = ()
    collected_at: datetime | None = None
    # Sources read for this resource this sweep (registry Source values); None = not computed,
    # taken as everything (unit tests that build observations by hand).
    covered: frozenset[str] | None = None


# --- verdicts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    rule: str  # key-drift, capacity, upstream, posture, blind-spot
    check: str  # the specific condition, e.g. "stale-key", "near-cap", "probe-failed"
    severity: Severity
    resource_id: str
    subject: str  # secret URI, hub, handler host, metric, or the resource id itself
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    guidance: str = ""

    @property
    def fingerprint(self) -> str:
        """Stable across sweeps: the same problem on the same thing has the same fingerprint."""
        raw = "\x1f".join((self.rule, self.check, self.resource_id.lower(), self.subject.lower()))
        return hashlib.sha256(raw.encode()).hexdigest()[:20]


# --- remediation --------------------------------------------------------------------------


class SecretSyncParams(TypedDict):
    """What secret sync needs to act: which key to write into which secret version."""

    key: str  # primary | secondary
    vault_url: str
    name: str
    version: str


# "from" is a keyword, hence the functional form.
ScaleParams = TypedDict("ScaleParams", {"sku": str, "from": int, "to": int})


class OutcomeStatus(enum.StrEnum):
    PLANNED = "planned"  # plan mode, or the intent recorded before acting
    DONE = "done"
    SKIPPED = "skipped"  # a guard stopped it (Outcome.guard names which)
    FAILED = "failed"
    IN_PROGRESS = "in-progress"  # started, not finished within the sweep's budget: the next sweep verifies it


@dataclass(frozen=True)
class Action:
    kind: str  # a registered remediation kind (watchdog.remediate.registry)
    resource_id: str
    subject: str  # secret URI, or "capacity"
    reason: str
    params: Mapping[str, Any] = field(default_factory=dict)  # SecretSyncParams or ScaleParams
    finding: str | None = None  # fingerprint of the finding it answers


@dataclass(frozen=True)
class Outcome:
    action: Action
    status: str  # an OutcomeStatus
    reason: str = ""
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    verified: bool | None = None
    proof: str = ""
    at: datetime | None = None
    guard: str | None = None  # for skipped: the safety rule that stopped it (autoscale, cooldown, ...)


# --- the report ---------------------------------------------------------------------------


@dataclass
class Report:
    started_at: datetime
    finished_at: datetime | None = None
    subscriptions: tuple[str, ...] = ()
    mode: Mapping[str, str] = field(default_factory=dict)  # action kind -> off/plan/on
    resources: list[Resource] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[ObservationError] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    notifications: list[Mapping[str, Any]] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)  # kind -> count
    throttled: dict[str, int] = field(default_factory=dict)  # kind -> 429/529 answers met (then retried)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    # What was collected, for the status page (utilisation, keys, handlers); not part of the JSON schema.
    observations: list[Observation] = field(default_factory=list, repr=False)
    # What this sweep really saw, for the finding lifecycle: per lower-case resource id the
    # sources read (watchdog/sweep/coverage.py); the vaults, workspaces and subscriptions read
    # whole (None: every subscription listed); resources confirmed deleted by a direct GET (404).
    coverage: dict[str, frozenset[str]] = field(default_factory=dict)
    read_scopes: set[str] | None = None
    deleted: set[str] = field(default_factory=set)
    budget_seconds: float | None = None  # the sweep's time budget (WATCHDOG_SWEEP_BUDGET_SECONDS)

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)
