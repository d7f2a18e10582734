"""The one place that builds Azure SDK clients: credential, retry, user agent, pooling, call counts.

Heavy SDK modules are imported inside the functions that need them, never when this module is
imported: the Functions host imports `function_app` on every cold start, and the SDKs are the
bulk of that time.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar
from urllib.parse import urlsplit

from watchdog.models import Sensitive
from watchdog.settings import Settings

if TYPE_CHECKING:
    import requests
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient
    from azure.messaging.webpubsubservice import WebPubSubServiceClient
    from azure.mgmt.monitor import MonitorManagementClient
    from azure.mgmt.webpubsub import WebPubSubManagementClient
    from azure.monitor.query import LogsQueryClient
    from azure.monitor.querymetrics import MetricsClient

VERSION = "0.1.0"
USER_AGENT = f"webpubsub-watchdog/{VERSION}"
ARM = "https://management.azure.com"
LOGS_ENDPOINT = "https://api.loganalytics.io"
DIAGNOSTIC_SETTINGS_API = "2021-05-01-preview"

# Call kinds, as the Report and the benchmarks count them.
ARM_READ, ARM_WRITE, METRICS, LOGS, KEYVAULT, DATAPLANE, PROBE = (
    "arm-read", "arm-write", "metrics", "logs", "keyvault", "dataplane", "probe")
THROTTLED_STATUSES = (429, 529)  # 529: the batch metrics API's throttling answer
THROTTLE_RETRIES = 8
THROTTLE_JITTER = 0.5  # a throttled call waits Retry-After times 1 to 1.5

T = TypeVar("T")


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


def _limiting_policy(limiter: ArmRateLimiter, deadline: Callable[[], float | None]) -> Any:
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class ArmRateLimitPolicy(SansIOHTTPPolicy):
        """Takes a limiter token before every ARM attempt (retries spend ARM's budget too, so this
        sits after the retry policy) and feeds ARM's remaining-tokens header back to it."""

        def on_request(self, request: Any) -> None:
            http_request = request.http_request
            kind = call_kind(http_request.method, http_request.url)
            if kind in (ARM_READ, ARM_WRITE):
                limiter.acquire(arm_subscription(http_request.url), kind, deadline())

        def on_response(self, request: Any, response: Any) -> None:
            http_request = request.http_request
            kind = call_kind(http_request.method, http_request.url)
            if kind not in (ARM_READ, ARM_WRITE):
                return
            header = f"x-ms-ratelimit-remaining-subscription-{'reads' if kind == ARM_READ else 'writes'}"
            remaining = response.http_response.headers.get(header)
            if remaining is not None and remaining.strip().isdigit():
                limiter.observe(arm_subscription(http_request.url), kind, int(remaining))

    return ArmRateLimitPolicy()


def _counting_policy(counter: CallCounter) -> Any:
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class CountingPolicy(SansIOHTTPPolicy):
        """Counts every attempt (retries spend budget too), placed after the retry policy."""

        def on_response(self, request: Any, response: Any) -> None:
            http_request = request.http_request
            kind = call_kind(http_request.method, http_request.url)
            if kind is not None:
                counter.add(kind, response.http_response.status_code in THROTTLED_STATUSES)

    return CountingPolicy()


def _retry_policy() -> Any:
    from azure.core.pipeline.policies import RetryPolicy

    class ThrottleRetryPolicy(RetryPolicy):
        """azure-core's policy, also retrying throttled POSTs. Every POST the watchdog sends while
        collecting is a read (listKeys, metrics:getBatch, log queries), so retrying is safe.

        After a throttled answer it waits Retry-After plus a random share of it: threads throttled
        together would otherwise all come back in the same instant and be throttled again."""

        def _is_method_retryable(self, settings: Any, request: Any, response: Any = None) -> bool:
            if response is not None and response.status_code in THROTTLED_STATUSES:
                return True
            return super()._is_method_retryable(settings, request, response=response)

        def _sleep_for_retry(self, response: Any, transport: Any) -> bool:
            retry_after = self.get_retry_after(response)
            if not retry_after:
                return False
            transport.sleep(retry_after * (1 + random.uniform(0, THROTTLE_JITTER)))
            return True

    # The limiter keeps ARM's 429s rare, but other callers can still empty a bucket and the batch
    # metrics API throttles on its own: enough status retries to outlast a few Retry-After waits
    # (azure-core's default of 3 gave up on hundreds of calls at 5,000 resources), few other ones.
    return ThrottleRetryPolicy(retry_total=THROTTLE_RETRIES, retry_status=THROTTLE_RETRIES, retry_connect=3,
                               retry_read=3, retry_backoff_factor=0.5, retry_backoff_max=30)


class AzureClients:
    """Builds and caches SDK clients for one sweep (or one process). Thread-safe. A context
    manager: leaving the `with` block closes every client and the connection pool."""

    def __init__(self, settings: Settings, credential: TokenCredential | None = None,
                 counter: CallCounter | None = None, limiter: ArmRateLimiter | None = None) -> None:
        self.settings = settings
        self.counter = counter or CallCounter()
        self.limiter = limiter or ArmRateLimiter()
        # A time of the limiter's clock after which no ARM call is sent (SweepDeadline instead);
        # the sweep sets it while it collects.
        self.deadline: float | None = None
        self._credential = credential
        self._lock = threading.RLock()
        self._cache: dict[tuple[str, str], Any] = {}
        self._session: requests.Session | None = None

    # -- shared plumbing -------------------------------------------------------------------

    @property
    def credential(self) -> TokenCredential:
        with self._lock:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                # In Functions this resolves to the managed identity (IDENTITY_ENDPOINT/HEADER);
                # locally to the developer's az login. Interactive prompts never.
                self._credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
            return self._credential

    def session(self) -> requests.Session:
        """One connection pool for every client, sized to the concurrency so no thread waits for
        a socket and none is thrown away (urllib3's default pool keeps 10 per host)."""
        with self._lock:
            if self._session is None:
                import requests
                from requests.adapters import HTTPAdapter

                session = requests.Session()
                size = max(10, self.settings.concurrency)
                adapter = HTTPAdapter(pool_connections=32, pool_maxsize=size)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._session = session
            return self._session

    def _options(self) -> dict[str, Any]:
        from azure.core.pipeline.transport import RequestsTransport

        return {
            "user_agent": USER_AGENT,
            "retry_policy": _retry_policy(),
            "per_retry_policies": [_limiting_policy(self.limiter, lambda: self.deadline),
                                   _counting_policy(self.counter)],
            "transport": RequestsTransport(session=self.session(), session_owner=False),
        }

    def _cached(self, kind: str, key: str, build: Callable[[], T]) -> T:
        with self._lock:
            client = self._cache.get((kind, key))
            if client is None:
                client = self._cache[(kind, key)] = build()
            return client

    # -- clients ---------------------------------------------------------------------------

    def webpubsub(self, subscription_id: str) -> WebPubSubManagementClient:
        def build() -> WebPubSubManagementClient:
            from azure.mgmt.webpubsub import WebPubSubManagementClient

            return WebPubSubManagementClient(self.credential, subscription_id, base_url=ARM, **self._options())

        return self._cached("webpubsub", subscription_id.lower(), build)

    def monitor(self, subscription_id: str) -> MonitorManagementClient:
        def build() -> MonitorManagementClient:
            from azure.mgmt.monitor import MonitorManagementClient

            return MonitorManagementClient(self.credential, subscription_id, base_url=ARM, **self._options())

        return self._cached("monitor", subscription_id.lower(), build)

    def metrics(self, region: str) -> MetricsClient:
        region = region.replace(" ", "").lower()

        def build() -> MetricsClient:
            from azure.monitor.querymetrics import MetricsClient

            return MetricsClient(f"https://{region}.metrics.monitor.azure.com", self.credential, **self._options())

        return self._cached("metrics", region, build)

    def logs(self) -> LogsQueryClient:
        def build() -> LogsQueryClient:
            from azure.monitor.query import LogsQueryClient

            return LogsQueryClient(self.credential, endpoint=LOGS_ENDPOINT, **self._options())

        return self._cached("logs", "", build)

    def secrets(self, vault_url: str) -> SecretClient:
        vault_url = vault_url.rstrip("/").lower()

        def build() -> SecretClient:
            from azure.keyvault.secrets import SecretClient

            return SecretClient(vault_url, self.credential, **self._options())

        return self._cached("secrets", vault_url, build)

    def dataplane(self, connection_string: Sensitive, hub: str) -> WebPubSubServiceClient:
        """A data-plane client authenticated by the key in `connection_string` (not cached: it
        holds the key, and lives only as long as one proof)."""
        from azure.messaging.webpubsubservice import WebPubSubServiceClient

        return WebPubSubServiceClient.from_connection_string(connection_string.reveal(), hub=hub, **self._options())

    def diagnostic_settings(self, resource_id: str) -> dict[str, Any]:
        """GET {resource}/providers/Microsoft.Insights/diagnosticSettings. azure-mgmt-monitor 7.0.0
        has no diagnostic_settings operations, so this goes through the mgmt client's pipeline
        (same credential, retry and counting)."""
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest
        from azure.mgmt.core.exceptions import ARMErrorFormat

        subscription_id = resource_id.split("/")[2]
        request = HttpRequest(
            "GET", f"{ARM}{resource_id}/providers/Microsoft.Insights/diagnosticSettings"
                   f"?api-version={DIAGNOSTIC_SETTINGS_API}")
        response = self.monitor(subscription_id)._send_request(request)  # noqa: SLF001
        if response.status_code != 200:
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        return response.json()

    def __enter__(self) -> AzureClients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for client in self._cache.values():
                close = getattr(client, "close", None)
                if close is not None:
                    close()
            self._cache.clear()
            if self._session is not None:
                self._session.close()
                self._session = None
