"""Builders for the pure rule tests: a plain Observation with only what a case needs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from watchdog.models import (
    BoundSecret, DataPlaneProof, Diagnostics, KeyFingerprints, MetricPoint, Observation, Resource,
    ResourceMetrics,
)
from watchdog.settings import Settings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = Settings(subscriptions=("00000000-0000-0000-0000-000000000001",))
RID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/{}"
TIERS = {"Free_F1": "Free", "Standard_S1": "Standard", "Premium_P1": "Premium", "Premium_P2": "Premium"}


def resource(sku: str = "Standard_S1", units: int = 1, name: str = "wps-prod", **kw) -> Resource:
    return Resource(
        id=RID.format(name), subscription_id="00000000-0000-0000-0000-000000000001", resource_group="rg",
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
    kw.setdefault("diagnostics", Diagnostics(("/ws/1",), ("ConnectivityLogs",)))
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
