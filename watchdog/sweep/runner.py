"""Where the sweep's calls run: one bounded pool for Azure calls (WATCHDOG_CONCURRENCY), another
for event-handler probes (WATCHDOG_PROBE_CONCURRENCY), which go to customer hosts outside the
subscription's budget, so a slow handler never holds up an Azure call. Only the main thread
submits work and waits, so no pool thread ever waits on another (a bounded pool cannot deadlock
that way). A failed call becomes an ObservationError and the sweep goes on."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, TypeVar

from watchdog.collect import handlers
from watchdog.collect.errors import to_error
from watchdog.models import ObservationError
from watchdog.settings import Settings
from watchdog.telemetry import active

log = logging.getLogger("watchdog.sweep")
T = TypeVar("T")


@dataclass
class Errors:
    """Errors collected from pool threads: per resource (lower-case id) and sweep-wide."""

    by_resource: dict[str, list[ObservationError]] = field(default_factory=dict)
    general: list[ObservationError] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, error: ObservationError) -> None:
        with self.lock:
            if error.resource_id:
                found = self.by_resource.setdefault(error.resource_id.lower(), [])
                if error not in found:
                    found.append(error)
            else:
                self.general.append(error)

    def of(self, resource_id: str) -> tuple[ObservationError, ...]:
        return tuple(self.by_resource.get(resource_id.lower(), ()))


class Runner:
    """Submits calls to one bounded pool (collect.calls.Calls); each failure becomes an
    ObservationError in `errors`."""

    def __init__(self, pool: ThreadPoolExecutor, errors: Errors) -> None:
        self.pool = pool
        self.errors = errors

    def submit(self, fn: Callable[[], T], source: str, *, resource_id: str | None = None,
               subject: str | None = None, action: str | None = None) -> Future[T | None]:
        def call() -> T | None:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the sweep
                log.warning("%s call failed for %s: %s", source, resource_id or subject or "-", type(exc).__name__)
                self.errors.add(to_error(exc, source, resource_id=resource_id, subject=subject, action=action))
                return None

        return self.pool.submit(call)

    def spawn(self, fn: Callable[[], T]) -> Future[T]:
        return self.pool.submit(fn)

    def report(self, error: ObservationError) -> None:
        self.errors.add(error)


@dataclass(frozen=True)
class Pools:
    """The runners of one collect stage, sharing one Errors."""

    azure: Runner
    probes: Runner
    probe_session: Any  # requests.Session for customer hosts only (handlers.new_session)


@contextmanager
def pools(settings: Settings, errors: Errors) -> Iterator[Pools]:
    with ExitStack() as stack:
        # Customer hosts get their own connection pool (closed last, after both thread pools).
        session = stack.enter_context(handlers.new_session(settings.probe_per_host))
        azure = stack.enter_context(ThreadPoolExecutor(settings.concurrency, thread_name_prefix="watchdog"))
        probes = stack.enter_context(ThreadPoolExecutor(settings.probe_concurrency,
                                                        thread_name_prefix="watchdog-probe"))
        yield Pools(Runner(azure, errors), Runner(probes, errors), session)


@contextmanager
def stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Times the block into timings[name] (seconds), however it ends; a span when telemetry is on."""
    started = time.perf_counter()
    try:
        with active().stage(name):
            yield
    finally:
        timings[name] = round(time.perf_counter() - started, 3)


def delta(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
