"""Azure Table Storage ledger: the Function App's AzureWebJobsStorage account.

One table per kind of state, named `<prefix><kind>` and created on first use. Table keys forbid
'/', '\\', '#', '?' and control characters, and resource ids are full of '/': every key that
comes from outside is lower-cased (resource ids) and percent-encoded with '$' instead of '%'.
Leases use ETags (If-Match) and insert-if-absent, so two sweeps never both win one.
"""
from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from typing import Any, Iterable
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from watchdog.ledger.base import AuditEntry, CacheEntry, Closing, FindingState, KeyRecord, NotifyState
from watchdog.ledger.codec import cache_entry, cache_text, from_iso, resource_key, to_iso, to_iso_or_none
from watchdog.models import Sensitive, Severity
from watchdog.config import ConfigError

_KINDS = ("audit", "scaling", "keys", "findings", "notify", "leases", "cache")
# Table Storage's limits per entity group transaction: 100 operations and a 4 MiB body.
_TRANSACTION_OPS = 100
_TRANSACTION_CHARS = 3_000_000
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
_FINDINGS_PARTITION = "finding"


def encode_key(value: str) -> str:
    """A Table-safe, collision-free PartitionKey/RowKey: only [A-Za-z0-9_.~$-] remain."""
    return quote(value, safe="").replace("%", "$")


def _rk(resource_id: str) -> str:
    return encode_key(resource_key(resource_id))


# Timeouts and few retries: an unavailable account must cost the sweep seconds (then the ledger
# counts as unavailable, a critical blind spot), not azure-core's 300 s reads and backoffs.
CLIENT_OPTIONS = {"connection_timeout": 5, "read_timeout": 10, "retry_total": 2, "retry_backoff_max": 2}


class TableLedger(Closing):
    def __init__(self, service: TableServiceClient, prefix: str) -> None:
        longest = max(_KINDS, key=len)
        if not _TABLE_NAME.match(prefix + longest):
            raise ConfigError(
                f"WATCHDOG_LEDGER_TABLE={prefix!r} is not a usable table name prefix: use letters and digits, "
                f"starting with a letter, at most {63 - len(longest)} characters"
            )
        self._service = service
        self._prefix = prefix
        self._tables: dict[str, TableClient] = {}
        self._tables_lock = threading.Lock()

    @classmethod
    def from_connection_string(cls, connection_string: Sensitive, prefix: str) -> "TableLedger":
        # Revealed only inside the call: no frame of ours holds the key as a plain local.
        return cls(TableServiceClient.from_connection_string(connection_string.reveal(), **CLIENT_OPTIONS), prefix)

    @classmethod
    def from_endpoint(cls, endpoint: str, prefix: str) -> "TableLedger":
        # Identity-based AzureWebJobsStorage: the Function App's managed identity (or the
        # developer's az login) needs Storage Table Data Contributor on the account.
        from azure.identity import DefaultAzureCredential

        return cls(TableServiceClient(endpoint=endpoint, credential=DefaultAzureCredential(), **CLIENT_OPTIONS), prefix)

    def close(self) -> None:
        for table in self._tables.values():
            table.close()
        self._service.close()

    def _table(self, kind: str) -> TableClient:
        with self._tables_lock:
            if kind not in self._tables:
                self._tables[kind] = self._service.create_table_if_not_exists(self._prefix + kind)
            return self._tables[kind]

    def _get(self, kind: str, partition: str, row: str) -> dict[str, Any] | None:
        try:
            return self._table(kind).get_entity(partition, row)
        except HttpResponseError as error:
            if error.status_code == 404:
                return None
            raise

    def _put(self, kind: str, entity: dict[str, Any]) -> None:
        # REPLACE, not MERGE: a property now None must disappear rather than keep its old value
        # (the SDK drops None-valued properties from the request).
        self._table(kind).upsert_entity(entity, mode=UpdateMode.REPLACE)

    def _query(self, kind: str, partition: str) -> Iterable[dict[str, Any]]:
        return self._table(kind).query_entities("PartitionKey eq @pk", parameters={"pk": partition})

    # --- audit trail -----------------------------------------------------------------------
    def record_action(self, entry: AuditEntry) -> None:
        self._put("audit", {
            "PartitionKey": _rk(entry.resource_id), "RowKey": encode_key(entry.id),
            "id": entry.id, "at": to_iso(entry.at), "resource_id": entry.resource_id, "kind": entry.kind,
            "subject": entry.subject, "reason": entry.reason, "status": entry.status,
            "before": json.dumps(entry.before), "after": json.dumps(entry.after), "verified": entry.verified,
            "proof": entry.proof, "sweep_id": entry.sweep_id,
        })

    def actions(self, resource_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        # Partitions are per resource and rows are keyed by id, so newest-first is sorted here.
        entities = self._table("audit").list_entities() if resource_id is None else self._query(
            "audit", _rk(resource_id))
        rows = sorted(entities, key=lambda e: (e["at"], e["id"]), reverse=True)[:limit]
        return [
            AuditEntry(id=e["id"], at=from_iso(e["at"]), resource_id=e["resource_id"], kind=e["kind"],
                       subject=e["subject"], reason=e["reason"], status=e["status"],
                       before=json.loads(e["before"]), after=json.loads(e["after"]), verified=e.get("verified"),
                       proof=e["proof"], sweep_id=e["sweep_id"])
            for e in rows
        ]

    # --- scaling: one row per resource and fact; clearing a fact deletes its row -----------
    def last_scaled(self, resource_id: str) -> datetime | None:
        entity = self._get("scaling", _rk(resource_id), "last-scaled")
        return None if entity is None else from_iso(entity["at"])

    def set_last_scaled(self, resource_id: str, when: datetime) -> None:
        self._put("scaling", {"PartitionKey": _rk(resource_id), "RowKey": "last-scaled", "at": to_iso(when)})

    def low_since(self, resource_id: str) -> datetime | None:
        entity = self._get("scaling", _rk(resource_id), "low-since")
        return None if entity is None else from_iso(entity["at"])

    def set_low_since(self, resource_id: str, when: datetime | None) -> None:
        if when is None:
            self._table("scaling").delete_entity(_rk(resource_id), "low-since")  # absent is fine
        else:
            self._put("scaling", {"PartitionKey": _rk(resource_id), "RowKey": "low-since", "at": to_iso(when)})

    # --- key fingerprints ------------------------------------------------------------------
    def key_fingerprints(self, resource_id: str) -> KeyRecord | None:
        entity = self._get("keys", _rk(resource_id), "keys")
        if entity is None:
            return None
        return KeyRecord(resource_id=entity["resource_id"], primary_fp=entity["primary_fp"],
                         secondary_fp=entity["secondary_fp"], seen_at=from_iso(entity["seen_at"]))

    def key_records(self) -> dict[str, KeyRecord]:
        # One paged query across the per-resource partitions instead of one GET per resource.
        return {resource_key(e["resource_id"]): KeyRecord(
                    resource_id=e["resource_id"], primary_fp=e["primary_fp"], secondary_fp=e["secondary_fp"],
                    seen_at=from_iso(e["seen_at"]))
                for e in self._table("keys").query_entities("RowKey eq @rk", parameters={"rk": "keys"})}

    def put_key_fingerprints(self, record: KeyRecord) -> None:
        self._put("keys", {
            "PartitionKey": _rk(record.resource_id), "RowKey": "keys", "resource_id": record.resource_id,
            "primary_fp": record.primary_fp, "secondary_fp": record.secondary_fp,
            "seen_at": to_iso(record.seen_at),
        })

    # --- findings and notifications --------------------------------------------------------
    def finding_states(self, open_only: bool = False) -> dict[str, FindingState]:
        # One partition, filtered server-side: a sweep reads the firing ones only.
        query = "PartitionKey eq @pk" + (" and status eq 'firing'" if open_only else "")
        return {
            e["fingerprint"]: FindingState(
                fingerprint=e["fingerprint"], rule=e["rule"], check=e["check"],
                severity=Severity.parse(e["severity"]), resource_id=e["resource_id"], subject=e["subject"],
                summary=e["summary"], status=e["status"], firing_since=from_iso(e["firing_since"]),
                last_seen=from_iso(e["last_seen"]), resolved_at=from_iso(e.get("resolved_at")))
            for e in self._table("findings").query_entities(query, parameters={"pk": _FINDINGS_PARTITION})
        }

    def put_finding_state(self, state: FindingState) -> None:
        self._put("findings", {
            "PartitionKey": _FINDINGS_PARTITION, "RowKey": encode_key(state.fingerprint),
            "fingerprint": state.fingerprint, "rule": state.rule, "check": state.check,
            "severity": str(state.severity), "resource_id": state.resource_id, "subject": state.subject,
            "summary": state.summary, "status": state.status, "firing_since": to_iso(state.firing_since),
            "last_seen": to_iso(state.last_seen), "resolved_at": to_iso_or_none(state.resolved_at),
        })

    def notify_states(self, target: str, open_only: bool = False) -> dict[str, NotifyState]:
        query = "PartitionKey eq @pk" + (" and (last_state eq 'firing' or pending eq true)" if open_only else "")
        return {
            e["fingerprint"]: NotifyState(
                target=e["target"], fingerprint=e["fingerprint"], last_state=e["last_state"],
                last_notified_at=from_iso(e.get("last_notified_at")),
                last_delivery_id=e["last_delivery_id"], pending=e["pending"])
            for e in self._table("notify").query_entities(query, parameters={"pk": encode_key(target)})
        }

    def prune(self, before: datetime, limit: int) -> int:
        cutoff, gone = to_iso(before), 0
        for kind, where in (("findings", "status eq 'resolved' and resolved_at lt @cutoff"),
                            ("notify", "last_state eq 'resolved' and pending eq false and last_notified_at lt @cutoff"),
                            ("audit", "at lt @cutoff")):
            table = self._table(kind)
            for entity in table.query_entities(where, parameters={"cutoff": cutoff}, results_per_page=100):
                if gone >= limit:
                    return gone
                table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                gone += 1
        return gone

    def put_notify_state(self, state: NotifyState) -> None:
        self._put("notify", {
            "PartitionKey": encode_key(state.target), "RowKey": encode_key(state.fingerprint),
            "target": state.target, "fingerprint": state.fingerprint, "last_state": state.last_state,
            "last_notified_at": to_iso_or_none(state.last_notified_at),
            "last_delivery_id": state.last_delivery_id, "pending": state.pending,
        })

    # --- cache: one partition per kind, so a sweep reads a kind in one partition query -------
    def cached(self, kind: str, key: str) -> CacheEntry | None:
        entity = self._get("cache", encode_key(kind), encode_key(key))
        return None if entity is None else cache_entry(kind, key, entity["payload"], entity["fetched_at"])

    def cached_all(self, kind: str) -> dict[str, CacheEntry]:
        return {e["key"]: cache_entry(kind, e["key"], e["payload"], e["fetched_at"])
                for e in self._query("cache", encode_key(kind))}

    def put_cached(self, *entries: CacheEntry) -> list[CacheEntry]:
        skipped = []
        operations: dict[tuple[str, str], tuple[Any, ...]] = {}  # a transaction touches a row once
        for entry in entries:
            pk, rk = encode_key(entry.kind), encode_key(entry.key)
            text = cache_text(entry)
            if text is None:
                skipped.append(entry)
                operations[(pk, rk)] = ("delete", {"PartitionKey": pk, "RowKey": rk})
            else:
                operations[(pk, rk)] = ("upsert", {
                    "PartitionKey": pk, "RowKey": rk, "kind": entry.kind, "key": entry.key, "payload": text,
                    "fetched_at": to_iso(entry.fetched_at)}, {"mode": UpdateMode.REPLACE})
        by_partition: dict[str, list[tuple[Any, ...]]] = {}
        for (pk, _), operation in operations.items():
            by_partition.setdefault(pk, []).append(operation)
        table = self._table("cache")
        for batch in by_partition.values():
            chunk: list[tuple[Any, ...]] = []
            size = 0
            for operation in batch:
                length = len(operation[1].get("payload", ""))
                if chunk and (len(chunk) == _TRANSACTION_OPS or size + length > _TRANSACTION_CHARS):
                    self._submit(table, chunk)
                    chunk, size = [], 0
                chunk.append(operation)
                size += length
            if chunk:
                self._submit(table, chunk)
        return skipped

    @staticmethod
    def _submit(table: TableClient, operations: list[tuple[Any, ...]]) -> None:
        deletes = [op for op in operations if op[0] == "delete"]
        # A delete of an absent row fails a whole transaction (404): delete those one by one,
        # where the SDK treats absent as done, and send the upserts as one transaction.
        for _, entity in deletes:
            table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        upserts = [op for op in operations if op[0] != "delete"]
        if upserts:
            table.submit_transaction(upserts)

    def drop_cached(self, kind: str, key: str) -> None:
        self._table("cache").delete_entity(encode_key(kind), encode_key(key))  # absent is fine

    # --- leases ----------------------------------------------------------------------------
    def acquire_lease(self, resource_id: str, owner: str, ttl_seconds: int, now: datetime) -> bool:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        table = self._table("leases")
        entity = {"PartitionKey": _rk(resource_id), "RowKey": "lease", "owner": owner,
                  "expires_at": to_iso(now + timedelta(seconds=ttl_seconds))}
        current = self._get("leases", entity["PartitionKey"], "lease")
        try:
            if current is None:
                table.create_entity(entity)  # 409 if another sweep inserted it first
            elif current["owner"] == owner or from_iso(current["expires_at"]) <= now:
                # 412 if it changed since we read it: someone else renewed or took it over.
                table.update_entity(entity, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                    match_condition=MatchConditions.IfNotModified)
            else:
                return False
        except HttpResponseError as error:
            if error.status_code in (404, 409, 412):  # lost a race: released, inserted or changed
                return False
            raise
        return True

    def release_lease(self, resource_id: str, owner: str) -> None:
        current = self._get("leases", _rk(resource_id), "lease")
        if current is None or current["owner"] != owner:
            return
        try:
            # If-Match: if another owner took over an expired lease meanwhile, leave theirs alone.
            self._table("leases").delete_entity(_rk(resource_id), "lease", etag=current.metadata["etag"],
                                                match_condition=MatchConditions.IfNotModified)
        except HttpResponseError as error:
            if error.status_code != 412:
                raise
