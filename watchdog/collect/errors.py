"""Turn an exception from a collecting call into an ObservationError: the sweep goes on.

Messages are built here from status, code and the service's message, scrubbed of query strings
(SAS tokens, function keys), connection-string keys and bearer tokens, and kept short.
"""
from __future__ import annotations

import re

from watchdog.models import ObservationError
from watchdog.throttle import SweepDeadline

_QUERY = re.compile(r"(https?://[^\s'\"?#]+)[?#][^\s'\"]*", re.I)
_KEYISH = re.compile(r"(AccessKey|SharedAccessKey|AccountKey|sig|code|key|token|secret)=[^;&\s'\"]+", re.I)
_BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]+", re.I)
# ARM's 403 text: "... does not have authorization to perform action 'X' over scope ..."
_ACTION = re.compile(r"perform action '([^']+)'", re.I)
MAX_MESSAGE = 300
# Kind of an error for a read the sweep chose not to make (ARM budget, sweep deadline): not a
# failure, a gap that the next sweeps fill.
DEFERRED = "deferred"


def scrub(text: str) -> str:
    """Drop query strings, key=value secrets and bearer tokens from a message; shorten it."""
    text = _QUERY.sub(r"\1", text)
    text = _KEYISH.sub(lambda m: f"{m.group(1)}=<redacted>", text)
    text = _BEARER.sub("Bearer <redacted>", text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def kind_of_status(status: int | None) -> str:
    if status == 403:
        return "forbidden"
    if status == 401:
        return "unauthorized"
    if status == 404:
        return "not-found"
    if status in (429, 529):
        return "throttled"
    if status in (408, 504):
        return "timeout"
    return "error"


def to_error(exc: BaseException, source: str, *, resource_id: str | None = None, subject: str | None = None,
             action: str | None = None) -> ObservationError:
    """`action` is the Azure action the call needs; a 403 names it (the one from Azure's message
    when it gives one, since that is what its RBAC actually checked)."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    status: int | None = None
    permission: str | None = None
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status = exc.status_code
        kind = kind_of_status(status)
        code = getattr(exc.error, "code", None) if exc.error is not None else None
        detail = getattr(exc.error, "message", None) if exc.error is not None else None
        detail = detail or exc.reason or ""
        message = f"{status} {code or ''}: {detail}".replace("  ", " ")
        if status == 403:
            found = _ACTION.search(str(exc))
            permission = found.group(1) if found else action
    elif isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        text = f"{type(exc).__name__}: {exc}"
        kind = "timeout" if "timeout" in text.lower() or "timed out" in text.lower() else "unreachable"
        message = text
    elif isinstance(exc, SweepDeadline):
        kind, message = DEFERRED, f"deferred to a later sweep: {exc}"
    elif isinstance(exc, TimeoutError):
        kind, message = "timeout", f"{type(exc).__name__}: {exc}"
    else:
        kind, message = "error", f"{type(exc).__name__}: {exc}"
    return ObservationError(source=source, kind=kind, message=scrub(message), resource_id=resource_id,
                            subject=subject, status=status, permission=permission)
