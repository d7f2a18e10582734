"""The emulator's clock: real time plus an offset that tests move forward ("time travel").

Grace periods (a consumer's 24-hour Key Vault reference refetch, a rotation's wait) are too long
to sleep through, so the emulated Azure reads its time from here: `advance()` moves every
timestamp the emulator hands out (activity log, Key Vault attributes, log rows, reference
resolution) and every schedule it keeps. One offset per process: an emulator resets it when it
starts and stops, and emulators in one process run one after another (the pytest fixtures).
Tokens stay on real time (PyJWT checks `exp` against the wall clock).
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

_lock = threading.Lock()
_offset = timedelta(0)


def now() -> datetime:
    with _lock:
        return datetime.now(timezone.utc) + _offset


def offset() -> timedelta:
    with _lock:
        return _offset


def advance(delta: timedelta) -> datetime:
    """Move the clock forward (never back: Azure's clock does not run backwards); the new now."""
    global _offset
    if delta < timedelta(0):
        raise ValueError(f"the emulator's clock only moves forward; got {delta}")
    with _lock:
        _offset += delta
        return datetime.now(timezone.utc) + _offset


def reset() -> None:
    global _offset
    with _lock:
        _offset = timedelta(0)
