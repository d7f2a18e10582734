"""Replicas of Premium resources (WebPubSub/replicas, one list per Premium resource, kept by the
process for MAX_AGE): each has its own region, SKU and units, and its own metrics, which the batch
metrics API serves in batches of their own (one resource type per call)."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from watchdog.models import Resource

ACTION = "Microsoft.SignalRService/WebPubSub/replicas/read"
MAX_AGE = timedelta(hours=1)  # replicas are added or scaled rarely; a new one is judged within the hour


def premium(resource: Resource) -> bool:
    return resource.sku_tier.lower() == "premium" or resource.sku_name.lower().startswith("premium")


def to_replica(parent: Resource, item: Any) -> Resource:
    sku = item.sku
    return Resource(
        id=item.id, subscription_id=parent.subscription_id, resource_group=parent.resource_group, name=item.name,
        location=(item.location or "").replace(" ", "").lower(), host_name=parent.host_name,
        sku_name=(sku.name if sku else "") or parent.sku_name, sku_tier=(sku.tier if sku else "") or parent.sku_tier,
        capacity=sku.capacity if sku and sku.capacity is not None else 1, tags=dict(item.tags or {}),
        provisioning_state=item.provisioning_state or "Succeeded",
        resource_stopped=None if item.resource_stopped is None else str(item.resource_stopped).lower() == "true",
    )


def list_replicas(client: Any, parent: Resource) -> tuple[Resource, ...]:
    """`client`: the subscription's WebPubSubManagementClient."""
    return tuple(to_replica(parent, item) for item in client.web_pub_sub_replicas.list(parent.resource_group,
                                                                                      parent.name))


class ReplicaCache:
    """Per parent resource (lower-case id): its replicas and when they were listed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replicas: dict[str, tuple[datetime, tuple[Resource, ...]]] = {}

    def get(self, parent_id: str, now: datetime) -> tuple[Resource, ...] | None:
        with self._lock:
            entry = self._replicas.get(parent_id.lower())
        return None if entry is None or now - entry[0] >= MAX_AGE else entry[1]

    def put(self, parent_id: str, replicas: tuple[Resource, ...], now: datetime) -> None:
        with self._lock:
            self._replicas[parent_id.lower()] = (now, replicas)
