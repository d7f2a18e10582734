"""The timer sweep: every WATCHDOG_SCHEDULE, sweep, remediate as configured, notify, record."""
from __future__ import annotations

import json
import logging

import azure.functions as func

from .. import clock

bp = func.Blueprint()
log = logging.getLogger("watchdog.sweep")


@bp.function_name("sweep")
@bp.timer_trigger(arg_name="timer", schedule="%WATCHDOG_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    # Imported here, not at module level: the host indexes functions on cold start, and the
    # Azure SDKs are the bulk of the import time.
    from ..ledger.guard import LedgerUnavailable, open_guarded
    from . import CACHES
    from ..settings import load
    from ..sweep import run_sweep
    from ..telemetry import current
    from .runs import LATEST, save_report

    if timer.past_due:
        log.warning("sweep is running late (the previous one overran or the app was cold)")
    telemetry = current()
    # One sweep span from here: a setting or ledger that fails is a failed sweep to the alerts.
    try:
        with telemetry.sweep(trigger="timer"):
            settings, _ = load()  # a ConfigError fails the run loudly, naming the setting
            with open_guarded(settings) as ledger:
                report = run_sweep(settings, mode=settings.modes(), ledger=ledger, notify=True, caches=CACHES,
                                   telemetry=telemetry)
                # What GET /api/check answers with: the HTTP check never sweeps everything inline.
                # Failing to keep this copy fails no more than that: GET keeps answering with the
                # previous report, its age showing it is old.
                try:
                    save_report(ledger, LATEST, report, clock.now())
                except Exception as exc:  # noqa: BLE001 - logged by type: an SDK message may carry a URL
                    log.error("the latest report was not kept for GET /api/check: %s", type(exc).__name__)
            log.info("%s", summary_line(report))
            if ledger.failure is not None:
                # Reported above; failing the invocation (and the sweep's span) makes the host's
                # failure count and the watchdog's own alert show it.
                raise LedgerUnavailable(ledger.failure.message)
    finally:
        telemetry.flush()


SUMMARY_PREFIX = "sweep finished "


def summary_line(report) -> str:
    """The report's summary as one JSON object in the message text. The Python worker forwards a
    record's message and level only (fields given with `extra=` never reach Application Insights),
    so the fields travel in the text: `traces | where message startswith "sweep finished "
    | extend s = parse_json(substring(message, 15))`. Counts and names only, never a secret."""
    from ..report import to_dict

    doc = to_dict(report)
    fields = {**doc["summary"], "duration_seconds": doc["duration_seconds"], "mode": doc["mode"],
              "subscriptions": len(doc["subscriptions"]), "api_calls": sum(doc["api_calls"].values())}
    return SUMMARY_PREFIX + json.dumps(fields, sort_keys=True, separators=(",", ":"))
