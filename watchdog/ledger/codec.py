"""Conversions both backends share, so that they store the same thing the same way."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from watchdog.ledger.base import MAX_CACHED_CHARS, CacheEntry

log = logging.getLogger("watchdog.ledger")


def to_iso(value: datetime) -> str:
    # Fixed width (always microseconds, always +00:00) so stored texts sort chronologically.
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def to_iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else to_iso(value)


def from_iso(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text).astimezone(timezone.utc)


def resource_key(resource_id: str) -> str:
    """ARM returns the same id with different casing (resourceGroups vs resourcegroups)."""
    return resource_id.strip().lower()


def cache_text(entry: CacheEntry) -> str | None:
    """The payload as the stored JSON text, or None (with a warning) when it is too large to keep."""
    text = json.dumps(entry.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if len(text) > MAX_CACHED_CHARS:
        log.warning("not caching %s %s: %d characters of JSON, more than the %d a ledger row holds",
                    entry.kind, entry.key, len(text), MAX_CACHED_CHARS)
        return None
    return text


def cache_entry(kind: str, key: str, text: str, fetched_at: str) -> CacheEntry:
    payload: Any = json.loads(text)
    return CacheEntry(kind=kind, key=key, payload=payload, fetched_at=from_iso(fetched_at))
