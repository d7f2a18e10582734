"""GET/POST /api/check: the sweep on demand. Bad input gets 400 with a JSON error naming it."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import azure.functions as func

from ..config import MODES
from ..scope import Scope, parse_resource

bp = func.Blueprint()
log = logging.getLogger("watchdog.http")

_MIMETYPES = {"json": "application/json", "text": "text/plain", "markdown": "text/markdown"}
_PARAMETERS = {"resource", "format", "mode", "severity", "code"}


def _error(status: int, parameter: str | None, message: str) -> func.HttpResponse:
    body = {"error": {"code": "BadParameter" if status == 400 else "ConfigurationError",
                      "parameter": parameter, "message": message}}
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


def _params(req: func.HttpRequest) -> dict[str, str]:
    """Query parameters, overlaid by a JSON object body on POST."""
    params = {k: v for k, v in req.params.items()}
    if req.method == "POST" and req.get_body():
        try:
            body = req.get_json()
        except ValueError:
            raise _BadParameter("body", "the body is not JSON; send an object like {\"resource\": \"name\"}")
        if not isinstance(body, dict):
            raise _BadParameter("body", "the body must be a JSON object")
        params.update({k: str(v) for k, v in body.items()})
    unknown = sorted(set(params) - _PARAMETERS)
    if unknown:
        raise _BadParameter(unknown[0], f"unknown parameter {unknown[0]!r}; use resource, format, mode or severity")
    return params


class _BadParameter(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@bp.function_name("check")
@bp.route(route="check", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def check(req: func.HttpRequest) -> func.HttpResponse:
    from ..report import FORMATS, render
    from ..status_page import FILTERS

    try:
        params = _params(req)
        # A browser asks for HTML; API callers get JSON unless they name a format.
        accept = req.headers.get("Accept", "")
        fmt = params.get("format") or ("html" if "text/html" in accept and "application/json" not in accept else "json")
        if fmt not in (*FORMATS, "html"):
            raise _BadParameter("format", f"format {fmt!r} is not one of {', '.join(FORMATS)}, html")
        severity = params.get("severity")
        if severity is not None and severity not in FILTERS:
            raise _BadParameter("severity", f"severity {severity!r} is not one of {', '.join(FILTERS)}")
        mode = params.get("mode", "off")
        if mode not in MODES:
            raise _BadParameter("mode", f"mode {mode!r} is not one of off, plan, on")
        try:
            resources = (parse_resource(params["resource"]),) if params.get("resource") else ()
        except ValueError as exc:
            raise _BadParameter("resource", str(exc)) from None
    except _BadParameter as exc:
        return _error(400, exc.parameter, str(exc))

    from ..ledger import open_ledger
    from . import CACHES
    from ..settings import ConfigError, load
    from ..sweep import run_sweep

    try:
        settings, _ = load()
        ledger = open_ledger(settings)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return _error(500, None, f"the Function App is misconfigured: {exc}")
    with ledger:
        report = run_sweep(settings, Scope(resources=resources), settings.modes(mode), ledger=ledger, caches=CACHES)
    if fmt == "html":
        return _status_page(report, severity, settings.status_url)
    return func.HttpResponse(render(report, fmt), status_code=200, mimetype=_MIMETYPES[fmt],
                             charset="utf-8")


def _status_page(report, severity: str | None, base_url: str | None) -> func.HttpResponse:  # noqa: ANN001
    from ..status_page import CONTENT_SECURITY_POLICY, render_status_page

    page = render_status_page(report, generated_at=datetime.now(timezone.utc), base_url=base_url, filter=severity)
    return func.HttpResponse(page, status_code=200, mimetype="text/html", charset="utf-8", headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})
