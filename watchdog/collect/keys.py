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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from watchdog.ledger.base import KeyRecord
from watchdog.models import BoundSecret, KeyFingerprints, Resource, Sensitive

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
        if known and secret.proof is not None and secret.proof.outcome == "rejected":
            return REJECTED
        # A secret already compared with fresh keys stays stale until someone writes it: listing
        # the keys again every sweep would spend ARM write budget to learn nothing new.
        newer = newer or (secret.key_fingerprint is not None and not known and _newer(secret, last))
    if newer:
        return NEWER_SECRET
    if now - last.seen_at >= RECONCILE_AFTER:
        return RECONCILE
    return None


def _newer(secret: BoundSecret, last: KeyRecord) -> bool:
    return secret.updated_on is None or secret.updated_on > last.seen_at


def from_record(record: KeyRecord) -> KeyFingerprints:
    return KeyFingerprints(primary=record.primary_fp, secondary=record.secondary_fp, read_at=record.seen_at)


def to_record(resource_id: str, keys: KeyFingerprints) -> KeyRecord:
    return KeyRecord(resource_id=resource_id, primary_fp=keys.primary, secondary_fp=keys.secondary,
                     seen_at=keys.read_at)
