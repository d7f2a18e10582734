"""The secrets in the sweep: bindings from tags and WATCHDOG_KEY_VAULTS, then each bound secret
read and proven, or rebuilt from the ledger's proof record where nothing contradicts it
(collect/proofs.py)."""
from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable, Mapping

from watchdog.collect import cache, proofs, secrets
from watchdog.collect.calls import Calls, done
from watchdog.collect.secrets import Binding
from watchdog.ledger.base import CacheEntry, Ledger
from watchdog.ledger.codec import from_iso
from watchdog.models import BoundSecret, ErrorKind, ObservationError
from watchdog.models_resource import Resource

if TYPE_CHECKING:
    from watchdog.azure import AzureClients

log = logging.getLogger("watchdog.sweep")


@dataclass
class Listing:
    """Bindings from tags, and the vault list calls under way."""

    bindings: list[Binding]
    vault_calls: list[Future[tuple[list[Binding], dict[str, proofs.Listed]] | None]]
    vault_lists: list[Future[dict[str, proofs.Listed] | None]] = field(default_factory=list)

    def result(self) -> tuple[list[Binding], dict[str, proofs.Listed]]:
        """Every binding, and each listed secret's attributes by lower-case uri."""
        bindings = list(self.bindings)
        listed: dict[str, proofs.Listed] = {}
        for future in self.vault_calls:
            if (found := future.result()) is not None:
                bindings.extend(found[0])
                listed.update(found[1])
        for lists in self.vault_lists:
            listed.update(lists.result() or {})
        return bindings, listed


def submit_bindings(calls: Calls, clients: AzureClients, key_vaults: Iterable[str], resources: list[Resource],
                    ledger: Ledger | None) -> Listing:
    """Bindings from resource tags, the list calls of WATCHDOG_KEY_VAULTS (bindings and each
    secret's attributes) and, with a ledger to keep proofs in, one list of each other vault the
    tags name, for its attributes alone."""
    key_vaults = tuple(dict.fromkeys(key_vaults))  # a vault named twice is listed once
    bindings, bad = secrets.from_resource_tags(resources)
    for resource_id, entry in bad:
        calls.report(ObservationError("secrets", ErrorKind.ERROR, f"tag watchdog-secrets holds {entry[:80]!r}, "
                                      "not a secret URI (https://<vault>.vault.azure.net/secrets/<name>)",
                                      resource_id=resource_id))
    ids = {r.id.lower() for r in resources}
    lists = [calls.submit(lambda vault=vault: secrets.from_vault(clients.secrets(vault), vault, ids), "secrets",
                          subject=vault, action=secrets.LIST_ACTION) for vault in key_vaults]
    listing = Listing(bindings, lists)
    if ledger is None:
        return listing

    def attributes(vault: str) -> dict[str, proofs.Listed] | None:
        # Not needed to find bindings: where it fails, its secrets are read each sweep as before.
        try:
            return secrets.from_vault(clients.secrets(vault), vault, set())[1]
        except Exception as exc:  # noqa: BLE001 - no list means no reuse, not a blind spot
            log.info("secrets of %s not listed (%s): each bound secret is read", vault, type(exc).__name__)
            return None

    listed_vaults = {v.rstrip("/").lower() for v in key_vaults}
    tag_vaults = sorted({b.vault_url for b in bindings} - listed_vaults)
    listing.vault_lists = [calls.spawn(lambda vault=vault: attributes(vault)) for vault in tag_vaults]
    return listing


@dataclass
class Reading:
    calls: dict[str, list[tuple[Binding, Future[BoundSecret | None]]]]  # by lower-case resource id
    fresh: set[str]  # proofs.key of the secrets read this sweep


def submit_reads(calls: Calls, clients: AzureClients, proof_interval_minutes: int, by_id: Mapping[str, Resource],
                 bindings: list[Binding], ledger: Ledger | None, listed: Mapping[str, proofs.Listed],
                 now: datetime) -> Reading:
    """Per resource, (binding, future BoundSecret). With a ledger, a secret whose record nothing
    contradicts (proofs.why_read) is rebuilt from it instead of read and proven."""
    prove = secrets.proof_for(clients.dataplane)
    records: dict[str, CacheEntry] = {}
    started: dict[str, datetime | None] = {}
    if ledger is not None:
        records = ledger.cached_all(proofs.KIND)
        started = {sub: from_iso(m.payload["started"]) for sub, m in ledger.cached_all(cache.MARK_KIND).items()}
    interval = timedelta(minutes=proof_interval_minutes)
    reading = Reading({}, set())
    for b in dict.fromkeys(bindings):  # a secret bound both ways is read once
        resource = by_id.get(b.resource_id)
        if resource is None:
            continue
        k = proofs.key(b.uri, resource.id)
        if ledger is not None:
            record = records.get(k)
            why = proofs.why_read(record, listed.get(b.uri.lower()), resource,
                                  started.get(resource.subscription_id.lower()), now, interval)
            if why is None and record is not None:
                reading.calls.setdefault(b.resource_id, []).append((b, done(proofs.from_payload(record))))
                continue
            log.debug("reading %s: %s", b.uri, why)
        reading.fresh.add(k)
        reading.calls.setdefault(b.resource_id, []).append((b, calls.submit(
            lambda b=b, r=resource: proofs.proved(secrets.read_bound(clients.secrets(b.vault_url), b, r, prove), now),
            "secrets", resource_id=resource.id, subject=b.uri, action=secrets.GET_ACTION)))
    return reading


def collect(reading: Reading) -> dict[str, list[BoundSecret]]:
    return {rid: [s for _, f in pairs if (s := f.result()) is not None] for rid, pairs in reading.calls.items()}


def keep_proofs(ledger: Ledger, by_id: Mapping[str, Resource], reading: Reading,
                listed: Mapping[str, proofs.Listed], now: datetime) -> None:
    """Record the secrets read this sweep (one batched write); a secret that could not be read
    loses its record, so the next sweep reads it again rather than trusting an old proof."""
    kept = []
    for rid, pairs in reading.calls.items():
        for b, future in pairs:
            k = proofs.key(b.uri, rid)
            if k not in reading.fresh:
                continue
            if (secret := future.result()) is None:
                ledger.drop_cached(proofs.KIND, k)
            else:
                kept.append(proofs.to_entry(secret, by_id[rid], listed.get(b.uri.lower()), now))
    ledger.put_cached(*kept)
