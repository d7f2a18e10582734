"""Shared builders for tests: the ids, clock, resources, observations, findings and actions that
test files used to redefine each in its own way. Each builder takes only what a case changes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from watchdog.models import (
    Action, BoundSecret, DataPlaneProof, Finding, KeyFingerprints, MetricPoint, Observation, Outcome, ResourceMetrics,
    Severity,
)
from watchdog.models_resource import Diagnostics, Resource
from watchdog.settings import Settings

SUB = "00000000-0000-0000-0000-000000000001"  # the unit tests' subscription
DEMO_SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"  # the emulator demo's subscription
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = Settings(subscriptions=(SUB,), key_vaults=("https://kv-prod.vault.azure.net",),  # the bound secrets' vault
                    required_tags=())  # tests of posture/missing-tags set their own
RID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/{{}}"


def resource_id(name: str = "wps-prod", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/{name}"
TIERS = {"Free_F1": "Free", "Standard_S1": "Standard", "Premium_P1": "Premium", "Premium_P2": "Premium"}


def resource(sku: str = "Standard_S1", units: int = 1, name: str = "wps-prod", **kw) -> Resource:
    return Resource(
        id=RID.format(name), subscription_id=SUB, resource_group="rg",
        name=name, location="westeurope", host_name=f"{name}.webpubsub.azure.com", sku_name=sku,
        sku_tier=TIERS.get(sku, "Standard"), capacity=units, **kw,
    )


def points(values, end: datetime = NOW, step_minutes: int = 1) -> tuple[MetricPoint, ...]:
    """Per-minute points, the last one at `end`."""
    n = len(values)
    return tuple(MetricPoint(end - timedelta(minutes=step_minutes * (n - 1 - i)), v) for i, v in enumerate(values))


def metrics(series: dict[str, list] | None = None, closes: dict | None = None, window: int = 30) -> ResourceMetrics:
    """metrics({"TotalConnectionCount:Maximum": [...]}): per-minute values ending at NOW."""
    return ResourceMetrics(
        series={k: points(v) for k, v in (series or {}).items()},
        close_counts=closes or {}, window_minutes=window,
    )


def observation(res: Resource | None = None, **kw) -> Observation:
    kw.setdefault("diagnostics", Diagnostics(("/ws/1",), ("ConnectivityLogs", "MessagingLogs", "HttpRequestLogs")))
    return Observation(resource=res or resource(), **kw)


def keys() -> KeyFingerprints:
    return KeyFingerprints(primary="fp-primary", secondary="fp-secondary", read_at=NOW - timedelta(minutes=1))


def secret(
    fingerprint: str | None = "fp-primary", host: str | None = "wps-prod.webpubsub.azure.com",
    proof: DataPlaneProof | None = DataPlaneProof(404, "accepted"), **kw,
) -> BoundSecret:
    kw.setdefault("enabled", True)
    kw.setdefault("expires_on", None)
    return BoundSecret(
        uri="https://kv-prod.vault.azure.net/secrets/wps-conn", vault_url="https://kv-prod.vault.azure.net",
        name="wps-conn", version="v1", content_type=None, tags=kw.pop("tags", {}),
        endpoint_host=host, key_fingerprint=fingerprint, proof=proof, **kw,
    )


def finding(rule: str = "capacity", check: str = "near-cap", severity: Severity = Severity.WARNING,
            name: str = "wps-prod", **kw: Any) -> Finding:
    """A Finding as a sweep would report it; the rule and check need not be registered."""
    kw.setdefault("subject", "connections")
    kw.setdefault("summary", f"{name} at 92% of its connection cap")
    return Finding(rule=rule, check=check, severity=severity, resource_id=kw.pop("resource_id", resource_id(name)), **kw)


def action(kind: str = "scale", name: str = "wps-prod", **kw: Any) -> Action:
    kw.setdefault("subject", "capacity")
    kw.setdefault("reason", "near cap")
    kw.setdefault("params", {"sku": "Standard_S1", "from": 1, "to": 2})
    return Action(kind=kind, resource_id=kw.pop("resource_id", resource_id(name)), **kw)


def outcome(act: Action | None = None, status: str = "done", **kw: Any) -> Outcome:
    kw.setdefault("at", NOW)
    return Outcome(action=act or action(), status=status, **kw)


def webhook_target_env(host: str) -> dict[str, str]:
    """App settings for one signed webhook target `ops` that receives every finding, with a short
    delivery deadline: the notification setup of the sweep-under-faults tests."""
    return {
        "WATCHDOG_NOTIFY_TARGETS": "ops",
        "WATCHDOG_NOTIFY_DEFAULT": "ops",
        "WATCHDOG_NOTIFY_OPS_URL": f"https://{host}/watchdog",
        "WATCHDOG_NOTIFY_OPS_KIND": "webhook",
        "WATCHDOG_NOTIFY_OPS_SECRET": "webhook-shared-secret-0123456789",
        "WATCHDOG_NOTIFY_OPS_MIN_SEVERITY": "info",
        "WATCHDOG_NOTIFY_DEADLINE_SECONDS": "5",
    }


class ManualClock:
    """A monotonic clock for code that takes `clock` and `sleep` callables (delivery deadlines,
    ARM's limiter): time moves only when the code under test sleeps, and every sleep is kept."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
