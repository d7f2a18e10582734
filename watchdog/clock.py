"""The watchdog's one clock: every "now" a sweep, a lease, a delivery or a run compares with comes
from `now()`, so what falls due with time is judged against one time source (the benchmark runs
the CLI with this clock ahead, bench/clocked.py, as the emulator's runs ahead)."""
from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)
