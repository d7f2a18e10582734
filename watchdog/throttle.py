"""What the watchdog counts and spends: call kinds, the per-kind call counter, and the client-side
rate limiter that keeps a sweep under ARM's token buckets (AzureClients puts both in every SDK
pipeline, watchdog/azure.py)."""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

# Call kinds, as the Report and the benchmarks count them.
ARM_READ, ARM_WRITE, METRICS, LOGS, KEYVAULT, DATAPLANE, PROBE = (
    "arm-read", "arm-write", "metrics", "logs", "keyvault", "dataplane", "probe")


class CallCounter:
    """Thread-safe counts of HTTP calls by kind, and of throttled answers (429/529) by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()

    def add(self, kind: str, throttled: bool = False) -> None:
        with self._lock:
            self._calls[kind] += 1
            if throttled:
                self._throttled[kind] += 1

    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def throttled(self) -> dict[str, int]:
        with self._lock:
            return dict(self._throttled)


def call_kind(method: str, url: str) -> str | None:
    """The kind of an Azure call, or None for calls not worth counting (token requests)."""
    host = (urlsplit(url).hostname or "").lower()
    if host.startswith("management."):
        # POST actions (listKeys, regenerateKey) spend ARM's write budget, like PUT/PATCH/DELETE.
        return ARM_READ if method.upper() in ("GET", "HEAD") else ARM_WRITE
    if host.endswith(".metrics.monitor.azure.com"):
        return METRICS
    if host.startswith("api.loganalytics."):
        return LOGS
    if ".vault." in host:
        return KEYVAULT
    if host.endswith(".webpubsub.azure.com"):
        return DATAPLANE
    return None


class SweepDeadline(Exception):
    """An ARM call could not get a token from the rate limiter before the sweep's deadline: the
    call was not sent, and what it would have read is deferred to a later sweep."""


@dataclass(frozen=True)
class Bucket:
    """One of ARM's token buckets (per principal per subscription): `burst` tokens, refilled at
    `per_second`."""

    burst: int
    per_second: float


# ARM's buckets ("Understand how Azure Resource Manager throttles requests", 2024 model). POST
# actions such as listKeys are writes.
ARM_BUCKETS: dict[str, Bucket] = {ARM_READ: Bucket(250, 25.0), ARM_WRITE: Bucket(200, 10.0)}
# The sweep spends at most this share of each bucket, burst and refill: the rest is headroom for
# every other caller of the same principal and subscription (deployments, a second instance).
ARM_SHARE = 0.8


class ArmRateLimiter:
    """Client-side token buckets per (subscription, read/write), shared by every thread of the
    AzureClients that owns it, so a sweep stays under ARM's buckets instead of learning them
    through 429s.

    Each bucket holds ARM_SHARE of ARM's burst and refills at ARM_SHARE of its rate. ARM's
    `x-ms-ratelimit-remaining-subscription-reads/writes` header tells what is really left; when it
    shows less than our share allows (someone else spends the same bucket: another process of
    this identity, a deployment), our tokens drop to what is left minus the headroom, and we wait.
    The header only ever lowers our count: a stale one from a call that raced others is harmless.
    """

    def __init__(self, buckets: dict[str, Bucket] | None = None, share: float = ARM_SHARE,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._buckets = buckets or ARM_BUCKETS
        self._share = share
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[float, float]] = {}  # (sub, kind) -> (tokens, at)

    def now(self) -> float:
        """The limiter's clock, in which deadlines are given."""
        return self._clock()

    def _limits(self, kind: str) -> tuple[float, float, float]:
        """(our burst, our refill per second, the headroom left to others) for a kind."""
        bucket = self._buckets[kind]
        ours = max(1.0, bucket.burst * self._share)
        return ours, bucket.per_second * self._share, bucket.burst - ours

    def _refilled(self, key: tuple[str, str], now: float) -> float:
        burst, rate, _ = self._limits(key[1])
        tokens, at = self._tokens.get(key, (burst, now))
        return min(burst, tokens + (now - at) * rate)

    def acquire(self, subscription: str, kind: str, deadline: float | None = None) -> None:
        """Take one token, waiting for it; raise SweepDeadline (taking nothing) when it would
        come after `deadline` (a time of the limiter's clock)."""
        key = (subscription.lower(), kind)
        with self._lock:
            now = self._clock()
            tokens = self._refilled(key, now)
            wait = max(0.0, (1 - tokens) / self._limits(kind)[1])
            if deadline is not None and now + wait > deadline:
                raise SweepDeadline(f"no ARM {kind} token before the sweep deadline")
            # Reserve the token now (possibly going negative) so that threads queue in order
            # instead of all waking up for the same token.
            self._tokens[key] = (tokens - 1, now)
        if wait > 0:
            self._sleep(wait)

    def observe(self, subscription: str, kind: str, remaining: int) -> None:
        """ARM's count of tokens left after a call: keep the headroom above it."""
        key = (subscription.lower(), kind)
        with self._lock:
            now = self._clock()
            allowed = remaining - self._limits(kind)[2]
            tokens = self._refilled(key, now)
            if allowed < tokens:
                self._tokens[key] = (allowed, now)

    def affordable(self, subscription: str, kind: str, seconds: float) -> int:
        """How many calls of a kind the limiter lets through in the next `seconds`."""
        key = (subscription.lower(), kind)
        with self._lock:
            tokens = self._refilled(key, self._clock())
        return max(0, int(tokens + max(0.0, seconds) * self._limits(kind)[1]))


def arm_subscription(url: str) -> str:
    """The subscription id of an ARM URL ('' for tenant-level calls)."""
    parts = urlsplit(url).path.split("/")
    return parts[2].lower() if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""
