"""Proofs of bound secrets kept between sweeps, in the ledger: re-read and re-proven on change only.

Reading every bound secret (one Key Vault get) and proving it (one data-plane HEAD) every sweep
costs two calls per secret per sweep that almost always learn nothing. A vault's one paged list
(`list_properties_of_secrets`) gives each secret's `updated_on` without its value, and the
activity log shows each write or regenerateKey on a resource. A secret is read and proven again
only when one of them says it may have changed (see `why_read`), or at its slot in
WATCHDOG_PROOF_INTERVAL_MINUTES (spread.py: re-proofs spread over the sweeps); otherwise the BoundSecret is
rebuilt from the record, its proof included, and its `proved_at` says how old the proof is.

The record holds what BoundSecret holds: fingerprints and the endpoint host, never the value.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Mapping

from watchdog import tags
from watchdog.collect import spread
from watchdog.ledger.base import CacheEntry
from watchdog.ledger.codec import from_iso, to_iso_or_none
from watchdog.models import BoundSecret, DataPlaneProof
from watchdog.models_resource import Resource

KIND = "secret-proof"  # per "<secret uri>|<lower-case resource id>"
# Key Vault's times are to the second: a write in the same second as (or, clocks differing, just
# before) the last read leaves `updated_on` as it was, so such a read is trusted only once redone.
SAME_SECOND_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class Listed:
    """A secret's attributes from its vault's list (latest version, no value)."""

    updated_on: datetime | None
    enabled: bool
    claimed_for: str = ""  # its webpubsub-resource-id tag (lower case), whichever resource it names


def key(uri: str, resource_id: str) -> str:
    return f"{uri.lower()}|{resource_id.lower()}"


def listed_of(props: Any) -> Listed:
    """`props`: a SecretProperties from list_properties_of_secrets."""
    target = next((v for k, v in (props.tags or {}).items() if k.lower() == tags.RESOURCE_ID), "") or ""
    return Listed(updated_on=props.updated_on, enabled=props.enabled is not False,
                  claimed_for=target.strip().rstrip("/").lower())


def _expired(secret: BoundSecret, at: datetime) -> bool:
    return secret.expires_on is not None and secret.expires_on <= at


def why_read(record: CacheEntry | None, listed: Listed | None, resource: Resource, started: datetime | None,
             now: datetime, interval: timedelta) -> str | None:
    """Why the secret must be read and proven this sweep, or None when its record will do.
    `started`: when the subscription's activity-log record began (cache.MARK_KIND); records older
    than that may have missed a change. Records of resources the activity log shows changed are
    dropped before this (`drop_changed`)."""
    if record is None:
        return "no record"
    if listed is None:
        return "not in its vault's list"
    if started is None or record.fetched_at < started:
        return "activity log not followed since the last proof"
    kept = from_payload(record)
    if listed.updated_on is None or listed.updated_on != from_iso(record.payload["listed_updated_on"]):
        return "secret written since the last read"
    if listed.updated_on >= record.fetched_at - SAME_SECOND_MARGIN:
        return "secret written just before the last read"
    if listed.enabled != kept.enabled:
        return "secret enabled or disabled since the last read"
    if _expired(kept, record.fetched_at) != _expired(kept, now):
        return "secret expired since the last read"
    # A rejected proof of an unchanged version of an unchanged resource is known-broken, not news:
    # its finding stands on the record (remediation re-reads the secret before it acts). Anything
    # short of an answer (unreachable) is tried again.
    if kept.proof is not None and kept.proof.outcome not in ("accepted", "rejected"):
        return f"last proof {kept.proof.outcome}"
    if record.payload["local_auth_disabled"] != resource.disable_local_auth:
        return "local auth switched since the last proof"
    if spread.due(record.key, record.fetched_at, now, interval):
        return "proof interval slot"
    return None


def drop_changed(store: Any, changed: Mapping[str, datetime], clock_margin: timedelta) -> None:
    """Drop the records of resources with an activity-log event (write, regenerateKey) at or after
    their proof, less `clock_margin`. `store`: the ledger (its cache methods)."""
    if not changed:
        return
    for entry in store.cached_all(KIND).values():
        at = changed.get(entry.payload["resource_id"])
        if at is not None and entry.fetched_at <= at + clock_margin:
            store.drop_cached(KIND, entry.key)


def to_entry(secret: BoundSecret, resource: Resource, listed: Listed | None, proved_at: datetime) -> CacheEntry:
    """The record of a secret read and judged at `proved_at`. `listed_updated_on` is what the list
    said before the read (the read itself may not say, e.g. for a disabled secret): a write between
    the list and the read makes the next sweep read again, never the other way round."""
    proof = secret.proof
    payload = {
        "resource_id": resource.id.lower(),
        "local_auth_disabled": resource.disable_local_auth,
        "listed_updated_on": to_iso_or_none(listed.updated_on if listed is not None else secret.updated_on),
        "uri": secret.uri, "vault_url": secret.vault_url, "name": secret.name, "version": secret.version,
        "enabled": secret.enabled, "expires_on": to_iso_or_none(secret.expires_on),
        "content_type": secret.content_type, "tags": dict(secret.tags),
        "updated_on": to_iso_or_none(secret.updated_on), "endpoint_host": secret.endpoint_host,
        "key_fingerprint": secret.key_fingerprint, "parse_error": secret.parse_error, "has_value": secret.has_value,
        "proof": None if proof is None else {"status": proof.status, "outcome": proof.outcome, "detail": proof.detail},
    }
    return CacheEntry(KIND, key(secret.uri, resource.id), payload, proved_at)


def from_payload(record: CacheEntry) -> BoundSecret:
    p = record.payload
    proof = None if p["proof"] is None else DataPlaneProof(**p["proof"])
    return BoundSecret(uri=p["uri"], vault_url=p["vault_url"], name=p["name"], version=p["version"],
                       enabled=p["enabled"], expires_on=from_iso(p["expires_on"]), content_type=p["content_type"],
                       tags=p["tags"], updated_on=from_iso(p["updated_on"]), endpoint_host=p["endpoint_host"],
                       key_fingerprint=p["key_fingerprint"], parse_error=p["parse_error"], has_value=p["has_value"],
                       proof=proof, proved_at=record.fetched_at if proof is not None else None)


def proved(secret: BoundSecret, at: datetime) -> BoundSecret:
    """The secret as read this sweep, with when its proof (if any) was made."""
    return replace(secret, proved_at=at) if secret.proof is not None else secret


__all__ = ["KIND", "Listed", "drop_changed", "from_payload", "key", "listed_of", "proved", "to_entry", "why_read"]
