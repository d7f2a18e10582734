"""The watchdog's clock run ahead of the wall clock by the seconds in VARIABLE (bench/timer.py).
Standard library only, so that a child process of any revision can load it by its path
(bench/changes.py), as well as bench.clocked and bench.profiled by import."""
from __future__ import annotations

import os
from datetime import timedelta

VARIABLE = "WATCHDOG_BENCH_CLOCK_OFFSET_SECONDS"


def apply() -> None:
    """Run watchdog/clock.py's now() as far ahead as the environment says (nothing when it says 0)."""
    seconds = float(os.environ.get(VARIABLE) or 0)
    if seconds:
        import watchdog.clock

        wall = watchdog.clock.now
        watchdog.clock.now = lambda: wall() + timedelta(seconds=seconds)  # type: ignore[method-assign]
