"""The HTTP check: `/api/check` and `/api/check/runs/{id}`.

A GET never changes anything, and a request can lower the app's configured remediation modes,
never raise them. A sweep of every resource can outlive the 230 s Azure allows an HTTP answer, so
it never runs inside a request: without `resource=` the check answers with the timer's latest
report, and `POST ?fresh=true` queues a background run (async request-reply: 202 and a Location
to poll). One resource is swept inline, under a deadline that answers in time. Every error is
`{"error": {"code", "parameter", "message"}}`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timezone
from urllib.parse import urlsplit

import azure.functions as func

from .. import clock
from ..scope import Scope
from . import background
from .http_params import BadParameter, Query, parse

bp = func.Blueprint()
log = logging.getLogger("watchdog.http")

INLINE_DEADLINE_SECONDS = 150  # one resource's sweep, well inside Azure's 230 s HTTP limit
RETRY_AFTER_SECONDS = 15
_MIMETYPES = {"json": "application/json", "text": "text/plain", "markdown": "text/markdown"}
_CODES = {400: "BadParameter", 403: "OutOfScope", 404: "NotFound", 405: "MethodNotAllowed", 500: "ConfigurationError",
          503: "LedgerUnavailable"}


def error(status: int, parameter: str | None, message: str, code: str | None = None,
          headers: dict[str, str] | None = None, **extra: object) -> func.HttpResponse:
    body = {"error": {"code": code or _CODES[status], "parameter": parameter, "message": message, **extra}}
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json",
                             headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", **(headers or {})})


@bp.function_name("check")
@bp.route(route="check", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="runs", queue_name=background.QUEUE, connection="AzureWebJobsStorage")
def check(req: func.HttpRequest, runs: func.Out[str]) -> func.HttpResponse:
    from ..report import FORMATS
    from ..status_page import FILTERS

    try:
        query = parse(req, (*FORMATS, "html"), FILTERS)
    except BadParameter as exc:
        return error(400, exc.parameter, str(exc))
    if req.method != "POST" and (query.mode == "on" or query.fresh):
        what = "mode=on changes Azure resources" if query.mode == "on" else "fresh=true starts a sweep"
        return error(405, "mode" if query.mode == "on" else "fresh", f"{what}: send it with POST; a GET never "
                     "changes anything", headers={"Allow": "POST"})
    if query.resource is None and not query.fresh and query.mode not in (None, "off"):
        return error(400, "mode", "mode applies to a sweep: name a resource, or POST with fresh=true; without "
                     "them the check answers with the timer's latest report")

    from ..ledger.guard import open_guarded
    from ..settings import ConfigError, load

    try:
        settings, _ = load()
        ledger = open_guarded(settings)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return error(500, None, f"the Function App is misconfigured: {exc}")
    with ledger:
        if query.resource is not None:
            return _one_resource(query, settings, ledger)
        if query.fresh:
            return _start_run(req, query, ledger, runs)
        return _latest(query, settings, ledger)


def _unavailable(ledger, what: str, **extra: object) -> func.HttpResponse:  # noqa: ANN001
    """503 in the error shape: the ledger (Table Storage or SQLite) failed; `what` says what it cost."""
    return error(503, None, f"the ledger is unavailable ({ledger.failure.message}); {what}", **extra)


def _one_resource(query: Query, settings, ledger) -> func.HttpResponse:  # noqa: ANN001
    from ..scope import subscription_of
    from ..sweep import run_sweep
    from . import CACHES

    searched = [s.lower() for s in settings.subscriptions]
    subscription = subscription_of(query.resource or "")
    if subscription is not None and subscription not in searched:
        return error(403, "resource", f"the resource is in subscription {subscription}, outside "
                     f"WATCHDOG_SUBSCRIPTIONS ({', '.join(searched)})", subscriptions=searched)
    quick = replace(settings, sweep_deadline_seconds=min(settings.sweep_deadline_seconds, INLINE_DEADLINE_SECONDS))
    report = run_sweep(quick, Scope(resources=(query.resource,)), settings.modes(query.mode or "off"),
                       ledger=ledger, caches=CACHES)
    if ledger.failure is not None:
        # The sweep still ran: its report (with the critical ledger blind spot) rides along.
        from ..report import to_dict

        return _unavailable(ledger, "the sweep ran but nothing was acted on or recorded", report=to_dict(report))
    if not report.resources and not report.errors:  # every subscription was listed: it is not there
        return error(404, "resource", f"no Web PubSub resource {query.resource!r} in subscription(s) "
                     f"{', '.join(searched)}", subscriptions=searched)
    return _render(report, query, settings.status_url)


def _start_run(req: func.HttpRequest, query: Query, ledger, runs: func.Out[str]) -> func.HttpResponse:  # noqa: ANN001
    from .runs import new_run

    run = new_run(ledger, query.mode or "off", clock.now())
    if ledger.failure is not None:  # a run nobody could poll: not queued
        return _unavailable(ledger, "no background check was started")
    runs.set(json.dumps({"id": run.id}))
    location = run_location(req.url, run.id)
    return func.HttpResponse(json.dumps({**run.payload(), "location": location}), status_code=202,
                             mimetype="application/json",
                             headers={"Location": location, "Retry-After": str(RETRY_AFTER_SECONDS)})


def run_location(url: str, run_id: str) -> str:
    """Where to poll: the app's own origin, never the caller's query (it may hold `?code=`)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/api/check/runs/{run_id}"


def _latest(query: Query, settings, ledger) -> func.HttpResponse:  # noqa: ANN001
    from .runs import LATEST, load_report

    report = load_report(ledger, LATEST)
    if ledger.failure is not None:
        return _unavailable(ledger, "the timer's latest report cannot be read")
    if report is None:
        return error(404, None, "no timer sweep has finished yet (the timer runs on WATCHDOG_SCHEDULE); "
                     "POST /api/check?fresh=true starts one now", code="NoReportYet")
    return _render(report, query, settings.status_url, latest=True)


def _render(report, query: Query, status_url: str | None, latest: bool = False) -> func.HttpResponse:  # noqa: ANN001
    from email.utils import format_datetime

    from ..report import render
    from ..status_page import CONTENT_SECURITY_POLICY, render_status_page

    now = clock.now()
    finished = report.finished_at or report.started_at
    age = max(int((now - finished).total_seconds()), 0)
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if latest:  # a kept report: say how old it is
        headers |= {"Age": str(age), "Last-Modified": format_datetime(finished.astimezone(timezone.utc), usegmt=True)}
    if query.fmt == "html":
        page = render_status_page(report, generated_at=now, base_url=status_url, filter=query.severity)
        return func.HttpResponse(page, status_code=200, mimetype="text/html", charset="utf-8", headers={
            **headers, "Content-Security-Policy": CONTENT_SECURITY_POLICY, "Referrer-Policy": "no-referrer"})
    body = render(report, query.fmt)
    if latest and query.fmt in ("text", "markdown"):
        body = f"Latest timer report, finished {finished:%Y-%m-%d %H:%M:%S} UTC ({age} s ago).\n\n{body}"
    return func.HttpResponse(body, status_code=200, mimetype=_MIMETYPES[query.fmt], charset="utf-8", headers=headers)


@bp.function_name("check_run")
@bp.route(route="check/runs/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def check_run(req: func.HttpRequest) -> func.HttpResponse:
    """A background run's state: 202 while queued or running, the report when done."""
    from ..report import FORMATS
    from ..status_page import FILTERS
    from .runs import RUN_ID, get_run, load_report

    run_id = req.route_params.get("id", "")
    try:
        query = parse(req, (*FORMATS, "html"), FILTERS)
        if query.resource is not None or query.mode is not None or query.fresh:
            raise BadParameter("resource" if query.resource else "mode" if query.mode else "fresh",
                               "a run's status takes only format and severity")
        if not RUN_ID.match(run_id):
            raise BadParameter("id", "a run id is 32 lower-case hex digits, as the Location of the 202 gave it")
    except BadParameter as exc:
        return error(400, exc.parameter, str(exc))

    from ..ledger.guard import open_guarded
    from ..settings import ConfigError, load

    try:
        settings, _ = load()
        ledger = open_guarded(settings)
    except ConfigError as exc:
        return error(500, None, f"the Function App is misconfigured: {exc}")
    with ledger:
        run = get_run(ledger, run_id)
        if ledger.failure is not None:
            return _unavailable(ledger, f"check run {run_id} cannot be read")
        if run is None:
            return error(404, "id", f"no check run {run_id} (runs are kept for a day)", code="RunNotFound")
        status = run.effective_status(clock.now())
        if status in ("queued", "running"):
            location = run_location(req.url, run.id)
            return func.HttpResponse(json.dumps({**run.payload(), "location": location}), status_code=202,
                                     mimetype="application/json",
                                     headers={"Location": location, "Retry-After": str(RETRY_AFTER_SECONDS)})
        if status == "failed":
            reason = run.reason or "the run did not finish within the function timeout"
            return error(500, None, f"check run {run_id} failed: {reason}", code="CheckFailed")
        report = load_report(ledger, f"run/{run.id}")
    if report is None:
        return error(404, "id", f"check run {run_id} finished but its report is gone", code="RunNotFound")
    return _render(report, query, settings.status_url)
