"""Scale: change a resource's unit count, for one planned action, with its lease already held.

The policy (when, to how many units) is in scale_plan.py; this is re-check -> act -> verify:
1. re-check: GET the resource and list the subscription's autoscale settings, fresh: if the SKU,
   the unit count or the provisioning state differ from what the plan saw, or an autoscale
   setting targets the resource (or we cannot tell), stop: the plan was made for a world that no
   longer exists.
2. act: PATCH only the SKU (begin_update) and wait for the long-running operation within
   WATCHDOG_OPERATION_TIMEOUT_SECONDS. The cooldown starts when the PATCH is accepted.
3. verify: GET again and report the unit count the resource really has.
Scale-out and scale-in are two kinds (two modes) sharing this executor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchdog.collect import autoscale
from watchdog.config import Setting
from watchdog.models import Action, Observation, Outcome, OutcomeStatus
from watchdog.remediate import guards
from watchdog.remediate._common import failure, outcome
from watchdog.remediate.registry import ActContext, Remediation, register
from watchdog.remediate.scale_plan import SCALE, SCALE_IN, plan_in, plan_out
from watchdog.rights import SUBSCRIPTION, Feature

if TYPE_CHECKING:
    from azure.mgmt.webpubsub.models import WebPubSubResource

    from watchdog.azure import AzureClients

DONE, FAILED, SKIPPED = OutcomeStatus.DONE, OutcomeStatus.FAILED, OutcomeStatus.SKIPPED

RIGHTS = Feature(
    "scaling", SUBSCRIPTION,
    "Change a resource's unit count (PATCH sku.capacity) and poll the long-running operation.",
    actions=(
        "Microsoft.SignalRService/WebPubSub/write",
        # Polling the operation URLs ARM returns for a PATCH. Only the /webpubsub/ forms are
        # published (an unpublished action would make ARM refuse the whole role).
        "Microsoft.SignalRService/locations/operationStatuses/webpubsub/read",
        "Microsoft.SignalRService/locations/operationresults/webpubsub/read",
    ),
    writes=True,
)
SETTINGS = (
    Setting("WATCHDOG_SCALE_THRESHOLD_PCT", "85", "Utilisation (% of cap) at or above which scaling out is planned."),
    Setting("WATCHDOG_SCALE_TARGET_PCT", "70", "Utilisation (% of cap) a scale-out aims for."),
    Setting("WATCHDOG_MAX_UNITS", "10", "Budget: most units the watchdog scales a resource to (tag watchdog-max-units overrides)."),
    Setting("WATCHDOG_MIN_UNITS", "1", "Fewest units scale-in may leave."),
    Setting("WATCHDOG_SCALE_IN_BELOW_PCT", "30", "Scale in only after utilisation stayed below this (% of cap)..."),
    Setting("WATCHDOG_SCALE_IN_AFTER_MINUTES", "120", "...for this many minutes."),
    Setting("WATCHDOG_SCALE_COOLDOWN_MINUTES", "30", "No scaling within this many minutes of the last scale."),
    Setting("WATCHDOG_OPERATION_TIMEOUT_SECONDS", "600", "Longest wait for a scale operation to finish."),
)

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


@dataclass
class _State:
    before: dict[str, Any]
    mgmt: Any
    location: str = ""
    finished: bool = False


def recheck(action: Action, obs: Observation, ctx: ActContext) -> Outcome | _State:
    res, now = obs.resource, ctx.now
    sku, frm = action.params["sku"], action.params["from"]
    state = _State(before={"sku": sku, "units": frm}, mgmt=ctx.clients.webpubsub(res.subscription_id).web_pub_sub)
    fresh = state.mgmt.get(res.resource_group, res.name)
    seen = _sku_of(fresh)
    current = fresh.provisioning_state or "Succeeded"
    if current != "Succeeded":
        return outcome(action, SKIPPED, f"{res.name} is {current} now, not Succeeded: another change is under way",
                       now, guard=guards.PROVISIONING, before=state.before)
    if seen != (sku, frm):
        return outcome(action, SKIPPED, f"{res.name} changed since collection: {seen[1]} unit(s) {seen[0]} now, "
                                          f"planned from {frm} unit(s) {sku}; the next sweep plans again",
                       now, guard=guards.CHANGED, before=state.before)
    try:
        managing = autoscale_targets(ctx.clients, res.subscription_id, res.id)
    except Exception as exc:  # noqa: BLE001 - not knowing is a reason to stop, not to crash
        return outcome(action, SKIPPED, f"could not check for autoscale settings ({failure(exc)}): not scaling "
                                          "blind", now, guard=guards.AUTOSCALE, before=state.before)
    if managing:
        return outcome(action, SKIPPED, f"autoscale setting {', '.join(managing)} now manages {res.name}",
                       now, guard=guards.AUTOSCALE, before=state.before)
    state.location = fresh.location
    return state


def act(action: Action, obs: Observation, ctx: ActContext, state: _State) -> _State:
    res = obs.resource
    poller = state.mgmt.begin_update(res.resource_group, res.name,
                                     sku_patch(state.location, action.params["sku"], action.params["to"]))
    ctx.ledger.set_last_scaled(res.id, ctx.now)
    # Within the sweep's budget: a scale still running then is recorded in progress, not waited for.
    poller.wait(timeout=ctx.wait_seconds())
    state.finished = poller.done()
    return state


def verify(action: Action, obs: Observation, ctx: ActContext, state: _State) -> Outcome:
    res, now, frm, to = obs.resource, ctx.now, action.params["from"], action.params["to"]
    after_res = state.mgmt.get(res.resource_group, res.name)
    got_sku, got = _sku_of(after_res)
    after = {"sku": got_sku, "units": got, "provisioning_state": after_res.provisioning_state}
    verified = state.finished and got == to and after_res.provisioning_state == "Succeeded"
    proof = f"GET after the operation: {got} unit(s) {got_sku}, {after_res.provisioning_state}"
    common = {"before": state.before, "after": after, "proof": proof}
    if verified:
        return outcome(action, DONE, f"scaled {res.name} from {frm} to {to} units", now, verified=True, **common)
    if not state.finished:
        common["after"] = {**after, "target_units": to}
        return outcome(action, OutcomeStatus.IN_PROGRESS, f"the scale to {to} units is still running at the end of "
                       "this sweep's time; the next sweep verifies it", now, verified=None, **common)
    return outcome(action, FAILED, f"the operation finished but {res.name} has {got} unit(s), not {to}",
                   now, verified=False, **common)


def _sku_of(resource: Any) -> tuple[str, int]:
    sku = resource.sku
    return (sku.name if sku else ""), (sku.capacity if sku and sku.capacity is not None else 1)


register(Remediation(SCALE, Setting("WATCHDOG_SCALE", "plan", "Scale-out mode: off, plan (dry run) or on."),
                     "scale", 3, (RIGHTS,), plan_out, recheck, act, verify))
register(Remediation(SCALE_IN, Setting("WATCHDOG_SCALE_IN", "off", "Scale-in mode: off, plan or on."),
                     "scale_in", 4, (RIGHTS,), plan_in, recheck, act, verify))
