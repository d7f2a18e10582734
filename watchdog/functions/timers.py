"""The timer sweep: every WATCHDOG_SCHEDULE, sweep, remediate as configured, notify, record."""
from __future__ import annotations

import json
import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("watchdog.sweep")


@bp.function_name("sweep")
@bp.timer_trigger(arg_name="timer", schedule="%WATCHDOG_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    # Imported here, not at module level: the host indexes functions on cold start, and the
    # Azure SDKs are the bulk of the import time.
    from ..ledger import open_ledger
    from . import CACHES
    from ..settings import load
    from ..sweep import run_sweep

    if timer.past_due:
        log.warning("sweep is running late (the previous one overran or the app was cold)")
    settings, _ = load()  # a ConfigError fails the run loudly, naming the setting
    with open_ledger(settings) as ledger:
        report = run_sweep(settings, mode=settings.modes(), ledger=ledger, notify=True, caches=CACHES)
    log.info("%s", summary_line(report))


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
