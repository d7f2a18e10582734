"""The timer sweep: every WATCHDOG_SCHEDULE, sweep, remediate as configured, notify, record."""
from __future__ import annotations

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("watchdog.sweep")


@bp.function_name("sweep")
@bp.timer_trigger(arg_name="timer", schedule="%WATCHDOG_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    # Imported here, not at module level: the host indexes functions on cold start, and the
    # Azure SDKs are the bulk of the import time.
    from ..ledger.guard import LedgerUnavailable, open_guarded
    from . import CACHES
    from ..report import render_json, status
    from ..settings import load
    from ..sweep import run_sweep

    if timer.past_due:
        log.warning("sweep is running late (the previous one overran or the app was cold)")
    settings, _ = load()  # a ConfigError fails the run loudly, naming the setting
    with open_guarded(settings) as ledger:
        report = run_sweep(settings, mode=settings.modes(), ledger=ledger, notify=True, caches=CACHES)
    # One structured line for Application Insights; the report holds no secrets by construction.
    log.info("sweep finished: %s, %d findings, %d actions", status(report), len(report.findings),
             len(report.outcomes), extra={"report": render_json(report)})
    if ledger.failure is not None:
        # Reported above; failing the invocation makes the host's failure count show it.
        raise LedgerUnavailable(ledger.failure.message)
