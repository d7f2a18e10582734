"""Scale: change a resource's unit count, for one planned action, with its lease already held.

Re-check -> act -> verify:
1. GET the resource and list the subscription's autoscale settings, fresh: if the SKU, the unit
   count or the provisioning state differ from what the plan saw, or an autoscale setting targets
   the resource (or we cannot tell), stop: the plan was made for a world that no longer exists.
2. PATCH only the SKU (begin_update) and wait for the long-running operation within
   WATCHDOG_OPERATION_TIMEOUT_SECONDS.
3. GET again and report the unit count the resource really has.
The cooldown starts when the PATCH is accepted, whether or not we saw it finish.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from watchdog.collect import autoscale
from watchdog.ledger.base import Ledger
from watchdog.models import Action, Observation, Outcome
from watchdog.remediate._common import failure, outcome
from watchdog.settings import Settings

if TYPE_CHECKING:
    from azure.mgmt.webpubsub.models import WebPubSubResource

    from watchdog.azure import AzureClients

G_CHANGED = "changed"
G_AUTOSCALE = "autoscale"
G_PROVISIONING = "provisioning"

# WebPubSubResource (azure-mgmt-webpubsub 2.0.0) defaults these to values ("Enabled", False, ...):
# left set, a PATCH meant to change units would also re-enable public network access and local
# auth. Cleared, the serializer leaves them out and the PATCH carries only location and SKU.
_DEFAULTED = ("public_network_access", "disable_local_auth", "disable_aad_auth", "region_endpoint_enabled",
              "resource_stopped")


def sku_patch(location: str, sku_name: str, capacity: int) -> WebPubSubResource:
    """The PATCH body: the SKU and the location the 2.0.0 model requires, nothing else."""
    from azure.mgmt.webpubsub.models import ResourceSku, WebPubSubResource

    body = WebPubSubResource(location=location, sku=ResourceSku(name=sku_name, capacity=capacity))
    for name in _DEFAULTED:
        setattr(body, name, None)
    return body


def autoscale_targets(clients: AzureClients, subscription_id: str, resource_id: str) -> tuple[str, ...]:
    """Names of autoscale settings targeting the resource, read now. A setting may live in any
    resource group, so this lists the subscription's."""
    listed = clients.monitor(subscription_id).autoscale_settings.list_by_subscription()
    return autoscale.targets(listed).get(resource_id.rstrip("/").lower(), ())


def execute(action: Action, obs: Observation, clients: AzureClients, ledger: Ledger, settings: Settings,
            now: datetime) -> Outcome:
    res = obs.resource
    sku, frm, to = action.params["sku"], action.params["from"], action.params["to"]
    before = {"sku": sku, "units": frm}
    mgmt = clients.webpubsub(res.subscription_id).web_pub_sub

    fresh = mgmt.get(res.resource_group, res.name)
    seen = _sku_of(fresh)
    state = fresh.provisioning_state or "Succeeded"
    if state != "Succeeded":
        return outcome(action, "skipped", f"{res.name} is {state} now, not Succeeded: another change is under way",
                       now, guard=G_PROVISIONING, before=before)
    if seen != (sku, frm):
        return outcome(action, "skipped", f"{res.name} changed since collection: {seen[1]} unit(s) {seen[0]} now, "
                                          f"planned from {frm} unit(s) {sku}; the next sweep plans again",
                       now, guard=G_CHANGED, before=before)
    try:
        managing = autoscale_targets(clients, res.subscription_id, res.id)
    except Exception as exc:  # noqa: BLE001 - not knowing is a reason to stop, not to crash
        return outcome(action, "skipped", f"could not check for autoscale settings ({failure(exc)}): not scaling "
                                          "blind", now, guard=G_AUTOSCALE, before=before)
    if managing:
        return outcome(action, "skipped", f"autoscale setting {', '.join(managing)} now manages {res.name}",
                       now, guard=G_AUTOSCALE, before=before)

    poller = mgmt.begin_update(res.resource_group, res.name, sku_patch(fresh.location, sku, to))
    ledger.set_last_scaled(res.id, now)
    poller.wait(timeout=settings.operation_timeout_seconds)
    finished = poller.done()

    after_res = mgmt.get(res.resource_group, res.name)
    got_sku, got = _sku_of(after_res)
    after = {"sku": got_sku, "units": got, "provisioning_state": after_res.provisioning_state}
    verified = finished and got == to and after_res.provisioning_state == "Succeeded"
    proof = f"GET after the operation: {got} unit(s) {got_sku}, {after_res.provisioning_state}"
    if verified:
        return outcome(action, "done", f"scaled {res.name} from {frm} to {to} units", now,
                       before=before, after=after, verified=True, proof=proof)
    if not finished:
        return outcome(action, "failed", f"the scale to {to} units did not finish within "
                                         f"{settings.operation_timeout_seconds} s; it may still complete",
                       now, before=before, after=after, verified=False, proof=proof)
    return outcome(action, "failed", f"the operation finished but {res.name} has {got} unit(s), not {to}",
                   now, before=before, after=after, verified=False, proof=proof)


def _sku_of(resource: Any) -> tuple[str, int]:
    sku = resource.sku
    return (sku.name if sku else ""), (sku.capacity if sku and sku.capacity is not None else 1)
