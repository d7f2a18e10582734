"""A scale still running when its sweep's time ran out is recorded `in-progress` (scale.verify);
the next sweep verifies it here, from the resource as ARM shows it now, and records the result
under the same audit id (done and verified, failed, or still in progress)."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from watchdog.ledger.base import AuditEntry, Ledger
from watchdog.models import OutcomeStatus

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

log = logging.getLogger("watchdog.remediate")
IN_PROGRESS = OutcomeStatus.IN_PROGRESS


def verify_in_progress(clients: AzureClients, ledger: Ledger, now: datetime) -> list[AuditEntry]:
    """The in-progress entries settled this sweep (re-recorded in the ledger)."""
    settled = []
    for entry in ledger.actions(limit=100):
        if entry.status != IN_PROGRESS or "target_units" not in entry.after:
            continue
        parts = entry.resource_id.split("/")
        try:
            res = clients.webpubsub(parts[2]).web_pub_sub.get(parts[4], parts[8])
        except Exception as exc:  # noqa: BLE001 - unknown stays in progress; the next sweep tries again
            log.info("could not verify the scale of %s: %s", parts[8], type(exc).__name__)
            continue
        state = res.provisioning_state or "Succeeded"
        if state != "Succeeded":
            continue
        units = res.sku.capacity if res.sku and res.sku.capacity is not None else 1
        target = entry.after["target_units"]
        done = units == target
        result = replace(entry, at=now, status=OutcomeStatus.DONE if done else OutcomeStatus.FAILED, verified=done,
                         after={**entry.after, "units": units, "provisioning_state": state},
                         proof=f"GET by the next sweep: {units} unit(s), {state}",
                         reason=f"{entry.reason}; verified by the next sweep" if done else
                         f"{entry.reason}; finished with {units} unit(s), not {target}")
        ledger.record_action(result)
        settled.append(result)
    return settled
