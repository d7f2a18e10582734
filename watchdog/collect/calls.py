"""What a collector needs from the sweep's runner (watchdog/sweep/runner.py), so each source's
submit and fold logic lives beside its collector without collect/ importing the sweep."""
from __future__ import annotations

from concurrent.futures import Future
from typing import Callable, Mapping, Protocol, TypeVar

from watchdog.models import ObservationError

T = TypeVar("T")


class Calls(Protocol):
    def submit(self, fn: Callable[[], T], source: str, *, resource_id: str | None = None,
               subject: str | None = None, action: str | None = None) -> Future[T | None]:
        """Runs `fn` on the pool; a failure becomes an ObservationError and the result None."""
        ...

    def spawn(self, fn: Callable[[], T]) -> Future[T]:
        """Runs `fn` on the pool as it is: `fn` handles its own failures."""
        ...

    def report(self, error: ObservationError) -> None:
        """Adds an observation error (thread-safe)."""
        ...


def results(futures: Mapping[str, Future[T | None]]) -> dict[str, T]:
    """The values of the calls that succeeded, by key."""
    return {key: value for key, f in futures.items() if (value := f.result()) is not None}


def done(value: T) -> Future[T]:
    """A future already holding `value` (what a cache or record stands in for)."""
    future: Future[T] = Future()
    future.set_result(value)
    return future
