"""What a sweep really saw, for the finding lifecycle (Report.coverage, read_scopes, deleted).

Silence must mean healthy: a finding resolves only where its sources were read
(watchdog/sweep/coverage.py), a vault- or workspace-scoped blind spot only when that vault or
workspace was read again, and a resource that vanished from discovery only after a direct GET
answers 404 ("resource deleted", never a plain "resolved").
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Iterable

from watchdog.azure import AzureClients
from watchdog.ledger.base import Ledger
from watchdog.models import Observation, ObservationError
from watchdog.scope import Scope
from watchdog.sweep.coverage import covered

log = logging.getLogger("watchdog.sweep")

# Direct GETs spent per sweep confirming that vanished resources are gone; the rest wait.
MAX_DELETION_CHECKS = 20


def with_coverage(observations: Iterable[Observation], general: list[ObservationError]) -> list[Observation]:
    """Each observation with `covered` set: the sources read for its resource this sweep."""
    return [replace(o, covered=covered(o, general)) for o in observations]


def coverage(observations: Iterable[Observation]) -> dict[str, frozenset[str]]:
    return {o.resource.id.lower(): o.covered for o in observations if o.covered is not None}


def read_scopes(subscriptions: Iterable[str], key_vaults: Iterable[str], observations: list[Observation],
                general: list[ObservationError]) -> set[str]:
    """Lower-case subscription ids (/subscriptions/<id>), vault URLs and workspace ids read whole
    this sweep: listed or queried, with no sweep-wide error naming them."""
    failed = {(e.subject or "").rstrip("/").lower() for e in general}
    scopes = {f"/subscriptions/{s}".lower() for s in subscriptions}
    scopes |= {v.rstrip("/").lower() for v in key_vaults}
    scopes |= {ws.lower() for o in observations if o.diagnostics for ws in o.diagnostics.workspace_ids}
    return {s for s in scopes if s not in failed}


def confirm_deleted(clients: AzureClients, ledger: Ledger, scope: Scope, discovered: set[str],
                    scopes: set[str]) -> set[str]:
    """Ids (lower-case) of resources with firing findings, in a subscription listed whole this
    sweep but no longer in it, that a direct GET confirms gone (404). Anything else (403, a
    timeout) proves nothing: their findings keep their state."""
    from azure.core.exceptions import ResourceNotFoundError

    candidates = sorted({s.resource_id.lower() for s in ledger.finding_states(open_only=True).values()
                         if "/providers/microsoft.signalrservice/webpubsub/"
                         in s.resource_id.lower()} - discovered)
    gone: set[str] = set()
    for rid in candidates[:MAX_DELETION_CHECKS]:
        parts = rid.split("/")
        sub, group, name = parts[2], parts[4], parts[8]
        if f"/subscriptions/{sub}" not in scopes or not scope.includes(rid, name):
            continue
        try:
            clients.webpubsub(sub).web_pub_sub.get(group, name)
        except ResourceNotFoundError:
            gone.add(rid)
        except Exception as exc:  # noqa: BLE001 - unconfirmed: the findings keep their state
            log.info("could not confirm %s deleted: %s", name, type(exc).__name__)
    return gone
