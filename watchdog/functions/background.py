"""The background check: `POST /api/check?fresh=true` queues a message on the app's own storage
(its queue output binding) and this queue-triggered function runs the sweep, keeping the run's
state and report in the ledger for `GET /api/check/runs/{id}`. A queue survives a restart or a
scale-in of the instance that took the request, and any instance can run or answer for a run."""
from __future__ import annotations

import json
import logging

import azure.functions as func

from .. import clock

bp = func.Blueprint()
log = logging.getLogger("watchdog.check_run")

QUEUE = "watchdog-check-runs"


@bp.function_name("check_background")
@bp.queue_trigger(arg_name="message", queue_name=QUEUE, connection="AzureWebJobsStorage")
def check_background(message: func.QueueMessage) -> None:
    from dataclasses import replace

    from ..ledger import open_ledger
    from ..redact import scrub
    from ..scope import Scope
    from ..settings import load
    from ..sweep import run_sweep
    from . import CACHES
    from .runs import RUN_ID, get_run, put_run, save_report

    try:
        run_id = json.loads(message.get_body())["id"]
    except (ValueError, KeyError, TypeError):
        log.error("check run message is not {\"id\": ...}: dropped")
        return
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        log.error("check run message names no run id: dropped")
        return
    settings, _ = load()  # a ConfigError fails the run loudly; the status answers failed after the timeout
    with open_ledger(settings) as ledger:
        run = get_run(ledger, run_id)
        if run is None or run.status in ("done", "failed"):  # a redelivered message runs nothing twice
            return
        now = clock.now()
        run = replace(run, status="running", started_at=now)
        put_run(ledger, run, now)
        try:
            report = run_sweep(settings, Scope(), settings.modes(run.mode), ledger=ledger, caches=CACHES)
            save_report(ledger, f"run/{run.id}", report, clock.now())
        except Exception as exc:  # noqa: BLE001 - the run's state says it failed, and why, without a secret
            reason = f"{type(exc).__name__}: {scrub(str(exc), 300)}"
            log.error("check run %s failed: %s", run.id, reason)
            put_run(ledger, replace(run, status="failed", finished_at=clock.now(), reason=reason),
                    clock.now())
            return
        done = clock.now()
        put_run(ledger, replace(run, status="done", finished_at=done), done)
