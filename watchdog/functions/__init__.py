"""The Functions app's triggers. One host process runs many sweeps (timer and HTTP): what they
keep between sweeps (SKU lists; hubs and diagnostics when there is no ledger) lives here, once
per process."""
from __future__ import annotations

from watchdog.collect.caches import Caches

CACHES = Caches()
