"""Turn an exception from a collecting call into an ObservationError: the sweep goes on.

Messages are built here from status, code and the service's message, scrubbed of query strings
(SAS tokens, function keys), connection-string keys and bearer tokens (watchdog/redact.py), and
kept short.
"""
from __future__ import annotations

import re

from watchdog.models import ErrorKind, ObservationError
from watchdog.redact import scrub
from watchdog.throttle import SweepDeadline

# ARM's 403 text: "... does not have authorization to perform action 'X' over scope ..."
_ACTION = re.compile(r"perform action '([^']+)'", re.I)
MAX_MESSAGE = 300


def brief(text: str) -> str:
    """What collect keeps of an outside text (an SDK message, a log line): scrubbed, on one line,
    at most MAX_MESSAGE characters."""
    return scrub(" ".join(text.split()), MAX_MESSAGE)


def kind_of_status(status: int | None) -> ErrorKind:
    if status == 403:
        return ErrorKind.FORBIDDEN
    if status == 401:
        return ErrorKind.UNAUTHORIZED
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status in (429, 529):
        return ErrorKind.THROTTLED
    if status in (408, 504):
        return ErrorKind.TIMEOUT
    return ErrorKind.ERROR


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
        timed_out = "timeout" in text.lower() or "timed out" in text.lower()
        kind = ErrorKind.TIMEOUT if timed_out else ErrorKind.UNREACHABLE
        message = text
    elif isinstance(exc, SweepDeadline):
        kind, message = ErrorKind.DEFERRED, f"deferred to a later sweep: {exc}"
    elif isinstance(exc, TimeoutError):
        kind, message = ErrorKind.TIMEOUT, f"{type(exc).__name__}: {exc}"
    else:
        kind, message = ErrorKind.ERROR, f"{type(exc).__name__}: {exc}"
    return ObservationError(source=source, kind=kind, message=brief(message), resource_id=resource_id,
                            subject=subject, status=status, permission=permission)
