"""Conversions both backends share, so that they store the same thing the same way."""
from __future__ import annotations

from datetime import datetime, timezone


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
