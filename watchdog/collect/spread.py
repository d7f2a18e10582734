"""When a periodic re-check of one item falls due, spread evenly over the interval.

Re-checking everything "every interval since it was last checked" puts every item made in one sweep
(a first sweep, a restart) due again in one later sweep. Instead each item has its own phase in the
interval, from a stable hash of its key, and falls due once the clock crosses one of its slots
(phase + k * interval) after its last check: with sweeps 5 minutes apart and a 30-minute interval,
about 1/6 of the items fall due each sweep, and none waits longer than one interval.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta


def phase(key: str, interval: timedelta) -> float:
    """Seconds into the interval where `key`'s slots lie: the same in every process."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64 * interval.total_seconds()


def due(key: str, last: datetime, now: datetime, interval: timedelta) -> bool:
    """True when one of `key`'s slots lies in (last, now], or a whole interval has passed."""
    span = interval.total_seconds()
    if span <= 0 or now - last >= interval:
        return True
    offset = phase(key, interval)
    return (now.timestamp() - offset) // span > (last.timestamp() - offset) // span
