"""A ledger that fails is a blind spot, not a crashed sweep (issue 11).

`Guarded` wraps a backend: a storage error (SQLite locked, Table Storage refused or 503) is
remembered in `failure` and the call answers a safe default instead: nothing read (empty), no
lease (so nothing is acted on), no write. After the first failure the store is not called again
in this sweep. The sweep reports a critical `ledger` blind spot, sends nothing it could not record,
and the timer invocation then ends as failed (`LedgerUnavailable`).
"""
from __future__ import annotations

import logging
import sqlite3
from typing import Any, Callable

from watchdog.models import ErrorKind, ObservationError

log = logging.getLogger("watchdog.ledger")

# Method -> what it answers while the ledger is unavailable (called to build a fresh value).
_DEFAULTS: dict[str, Callable[[], Any]] = {
    "finding_states": dict, "notify_states": dict, "cached_all": dict, "key_records": dict, "actions": list, "put_cached": list,
    "acquire_lease": lambda: False, "prune": lambda: 0,
}


class LedgerUnavailable(RuntimeError):
    """Raised by the timer after reporting, so the host counts the invocation as failed."""


def storage_errors() -> tuple[type[BaseException], ...]:
    from azure.core.exceptions import AzureError

    return sqlite3.Error, OSError, AzureError


class Guarded:
    """A Ledger whose storage errors become `failure` (an ObservationError) and safe answers."""

    def __init__(self, inner: Any | None, failure: ObservationError | None = None) -> None:
        self._inner = inner
        self.failure = failure

    @classmethod
    def unavailable(cls, exc: BaseException) -> "Guarded":
        """The ledger could not even be opened."""
        return cls(None, _error("open", exc))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        target = getattr(self._inner, name, None) if self._inner is not None else None

        def call(*args: Any, **kwargs: Any) -> Any:
            # After a failure nothing more is tried: what was read before may be stale, and each
            # call would spend seconds of the sweep's budget on a store that is down.
            if target is None or self.failure is not None:
                return _DEFAULTS.get(name, lambda: None)()
            try:
                return target(*args, **kwargs)
            except storage_errors() as exc:
                if self.failure is None:
                    self.failure = _error(name, exc)
                    log.error("ledger unavailable (%s): %s", name, type(exc).__name__)
                return _DEFAULTS.get(name, lambda: None)()

        return call

    def close(self) -> None:
        if self._inner is not None:
            try:
                self._inner.close()
            except storage_errors():
                pass

    def __enter__(self) -> "Guarded":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_guarded(settings: Any) -> Guarded:
    """open_ledger, guarded: storage that cannot even be opened is an unavailable ledger (a
    ConfigError, a setting that is wrong, still raises)."""
    from watchdog.ledger import open_ledger

    try:
        return Guarded(open_ledger(settings))
    except storage_errors() as exc:
        return Guarded.unavailable(exc)


def _error(operation: str, exc: BaseException) -> ObservationError:
    cause = _cause(exc)
    status = getattr(exc, "status_code", None)
    return ObservationError("ledger", ErrorKind.TIMEOUT if "locked" in cause else ErrorKind.UNREACHABLE,
                            f"ledger {operation} failed: {type(exc).__name__} ({cause})", subject="ledger",
                            status=status if isinstance(status, int) else None)


def _cause(exc: BaseException) -> str:
    if isinstance(exc, sqlite3.OperationalError):
        return str(exc)[:80]  # "database is locked": SQLite's text holds no secret
    status = getattr(exc, "status_code", None)
    if status:
        return f"HTTP {status}"
    return "connection refused or timed out"
