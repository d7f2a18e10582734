"""Access keys: listKeys (a POST that spends ARM write budget) and when it is worth calling.

Change-driven: the ledger keeps the fingerprints of the keys last listed. Keys are re-listed only
when something says they may differ from the record: no record yet, a secret version written since
the record that matches neither recorded key (drift to confirm with fresh keys), a data-plane
proof that rejected a key the record holds (a regeneration since), or the record is older than the
full reconciliation interval. A secret known to be stale since before the record costs nothing.
Otherwise the record stands in for listKeys: the data-plane proof, made again whenever the
activity log shows a write or regenerateKey on the resource (and at least every
WATCHDOG_PROOF_INTERVAL_MINUTES, collect/proofs.py), still catches a regeneration the record does
not know of. The sweep lists at most
WATCHDOG_MAX_LIST_KEYS per run, in the order of `Reason.rank`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from watchdog.collect.calls import Calls, results
from watchdog.ledger.base import KeyRecord, Ledger
from watchdog.models import BoundSecret, ErrorKind, KeyFingerprints, ObservationError, Sensitive
from watchdog.models_resource import Resource

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

log = logging.getLogger("watchdog.sweep")

ACTION = "Microsoft.SignalRService/WebPubSub/listKeys/action"
RECONCILE_AFTER = timedelta(hours=24)


def list_keys(client: Any, resource: Resource, now: datetime) -> KeyFingerprints:
    """`client`: the subscription's WebPubSubManagementClient. The keys exist here only as
    Sensitive and leave as fingerprints."""
    keys = client.web_pub_sub.list_keys(resource.resource_group, resource.name)
    return KeyFingerprints(primary=Sensitive(keys.primary_key or "").fingerprint(),
                           secondary=Sensitive(keys.secondary_key or "").fingerprint(), read_at=now)


@dataclass(frozen=True)
class Reason:
    """Why keys must be listed; `rank` orders the listKeys calls when a sweep cannot make them all
    (WATCHDOG_MAX_LIST_KEYS): a broken secret first, reconciliation last."""

    rank: int
    text: str


REJECTED = Reason(0, "a key the record holds was rejected: regenerated since")
NEWER_SECRET = Reason(1, "a secret version newer than the record holds a key it does not know")
NO_RECORD = Reason(2, "no key record")
RECONCILE = Reason(3, "reconciliation due")


def why_list(resource: Resource, secrets: Sequence[BoundSecret], last: KeyRecord | None,
             now: datetime) -> Reason | None:
    """The reason keys must be listed this sweep, or None when the ledger's record will do.

    Never for a resource without bound secrets (nothing to compare) or with local auth disabled
    (its keys do not work)."""
    if resource.disable_local_auth or not secrets:
        return None
    if last is None:
        return NO_RECORD
    recorded = {last.primary_fp, last.secondary_fp}
    newer = False
    for secret in secrets:
        known = secret.key_fingerprint in recorded
        rejected = secret.proof is not None and secret.proof.outcome == "rejected"
        if known and rejected and not _listed_since(secret, last):
            return REJECTED
        # A secret already compared with fresh keys stays stale until someone writes it: listing
        # the keys again every sweep would spend ARM write budget to learn nothing new.
        newer = newer or (secret.key_fingerprint is not None and not known and _newer(secret, last))
    if newer:
        return NEWER_SECRET
    if now - last.seen_at >= RECONCILE_AFTER:
        return RECONCILE
    return None


def _listed_since(secret: BoundSecret, last: KeyRecord) -> bool:
    """Keys listed after the proof: listing them again learns nothing until the secret is re-proven."""
    return secret.proved_at is not None and last.seen_at > secret.proved_at


def _newer(secret: BoundSecret, last: KeyRecord) -> bool:
    return secret.updated_on is None or secret.updated_on > last.seen_at


def from_record(record: KeyRecord) -> KeyFingerprints:
    return KeyFingerprints(primary=record.primary_fp, secondary=record.secondary_fp, read_at=record.seen_at)


def to_record(resource_id: str, keys: KeyFingerprints) -> KeyRecord:
    return KeyRecord(resource_id=resource_id, primary_fp=keys.primary, secondary_fp=keys.secondary,
                     seen_at=keys.read_at)


def collect(calls: Calls, clients: AzureClients, by_id: Mapping[str, Resource],
            secrets: Mapping[str, Sequence[BoundSecret]], ledger: Ledger | None, max_list_keys: int,
            now: datetime) -> dict[str, KeyFingerprints]:
    """Keys by lower-case id: listKeys where the bound secrets need it, at most `max_list_keys`
    (WATCHDOG_MAX_LIST_KEYS) per sweep, most urgent reason first: each call spends one of the
    subscription's ARM write tokens, which every deployment in the subscription shares."""
    out: dict[str, KeyFingerprints] = {}
    wanted: list[tuple[Reason, str, KeyRecord | None]] = []
    records = ledger.key_records() if ledger is not None and secrets else {}
    for rid, bound in secrets.items():
        resource = by_id[rid]
        record = records.get(rid)
        reason = why_list(resource, bound, record, now)
        if reason is None:
            if record is not None and bound and not resource.disable_local_auth:
                out[rid] = from_record(record)
            continue
        wanted.append((reason, rid, record))
    wanted.sort(key=lambda w: (w[0].rank, w[1]))
    for reason, rid, record in wanted[max_list_keys:]:
        if reason is RECONCILE and record is not None:
            # Nothing says the keys changed: the record stands in, as on any sweep between two
            # reconciliations, and the proof still catches a regeneration.
            out[rid] = from_record(record)
            continue
        # Keys stay unknown: key-drift judges the secret by its data-plane proof alone.
        calls.report(ObservationError("keys", ErrorKind.DEFERRED, f"keys not listed this sweep: budget "
                                      f"(WATCHDOG_MAX_LIST_KEYS={max_list_keys}); {reason.text}",
                                      resource_id=by_id[rid].id))
    listing = {}
    for reason, rid, _ in wanted[:max_list_keys]:
        resource = by_id[rid]
        log.info("listing keys of %s: %s", resource.name, reason.text)
        listing[rid] = calls.submit(lambda r=resource: list_keys(clients.webpubsub(r.subscription_id), r, now),
                                    "keys", resource_id=resource.id, action=ACTION)
    for rid, listed in results(listing).items():
        out[rid] = listed
        if ledger is not None:
            ledger.put_key_fingerprints(to_record(by_id[rid].id, listed))
    return out
