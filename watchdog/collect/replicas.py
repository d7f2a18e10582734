"""Replicas of Premium resources (WebPubSub/replicas, one list per Premium resource, kept with its
hubs and diagnostic settings in the resource cache and re-read when the activity log shows a change
below the resource): each has its own region, SKU and units, and its own metrics, which the batch
metrics API serves in batches of their own (one resource type per call)."""
from __future__ import annotations

from typing import Any

from watchdog.models_resource import Resource

ACTION = "Microsoft.SignalRService/WebPubSub/replicas/read"


def premium(resource: Resource) -> bool:
    return resource.sku_tier.lower() == "premium" or resource.sku_name.lower().startswith("premium")


def to_replica(parent: Resource, item: Any) -> Resource:
    sku = item.sku
    return Resource(
        id=item.id, subscription_id=parent.subscription_id, resource_group=parent.resource_group, name=item.name,
        # host_name: a replica's own endpoint; no rule uses it, and the list does not give it.
        location=(item.location or "").replace(" ", "").lower(), host_name="",
        sku_name=(sku.name if sku else "") or parent.sku_name, sku_tier=(sku.tier if sku else "") or parent.sku_tier,
        capacity=sku.capacity if sku and sku.capacity is not None else 1, tags=dict(item.tags or {}),
        provisioning_state=item.provisioning_state or "Succeeded",
        resource_stopped=None if item.resource_stopped is None else str(item.resource_stopped).lower() == "true",
    )


def list_replicas(client: Any, parent: Resource) -> tuple[Resource, ...]:
    """`client`: the subscription's WebPubSubManagementClient."""
    return tuple(to_replica(parent, item) for item in client.web_pub_sub_replicas.list(parent.resource_group,
                                                                                      parent.name))



def to_payload(replicas: tuple[Resource, ...]) -> list[dict[str, Any]]:
    """What the ledger keeps of a resource's replicas (watchdog/collect/cache.py)."""
    return [{"id": r.id, "name": r.name, "location": r.location, "sku": r.sku_name, "tier": r.sku_tier,
             "units": r.capacity, "state": r.provisioning_state} for r in replicas]


def from_payload(items: list[dict[str, Any]]) -> tuple[Resource, ...]:
    out = []
    for item in items:
        parts = item["id"].split("/")
        out.append(Resource(id=item["id"], subscription_id=parts[2].lower(), resource_group=parts[4], name=item["name"],
                            location=item["location"], host_name="", sku_name=item["sku"],
                            sku_tier=item["tier"], capacity=int(item["units"]), provisioning_state=item["state"]))
    return tuple(out)
