"""python -m bench.clocked ARGS...: `python -m watchdog ARGS` with the watchdog's clock as far ahead
as the emulated Azure's (bench/timer.py)."""
from __future__ import annotations

import sys

from . import offset

if __name__ == "__main__":
    offset.apply()
    from watchdog import cli

    sys.exit(cli.main(sys.argv[1:]))
