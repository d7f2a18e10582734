"""The one place that builds Azure SDK clients: credential, retry, user agent, pooling, call counts.

Heavy SDK modules are imported inside the functions that need them, never when this module is
imported: the Functions host imports `function_app` on every cold start, and the SDKs are the
bulk of that time.
"""
from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from watchdog.models import Sensitive
from watchdog.settings import Settings
from watchdog.throttle import (
    ARM_READ, ARM_WRITE, ArmRateLimiter, Bucket, CallCounter, SweepDeadline, arm_subscription, call_kind,
)

if TYPE_CHECKING:
    import requests
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient
    from azure.messaging.webpubsubservice import WebPubSubServiceClient
    from azure.mgmt.monitor import MonitorManagementClient
    from azure.mgmt.webpubsub import WebPubSubManagementClient
    from azure.monitor.query import LogsQueryClient
    from azure.monitor.querymetrics import MetricsClient

# The limiter's names are re-exported: tests build the clients with them (watchdog/throttle.py).
__all__ = ["ARM_READ", "ARM_WRITE", "USER_AGENT", "ArmRateLimiter", "AzureClients", "Bucket", "CallCounter",
           "SweepDeadline", "arm_subscription", "call_kind"]

VERSION = "0.1.0"
USER_AGENT = f"webpubsub-watchdog/{VERSION}"
ARM = "https://management.azure.com"
LOGS_ENDPOINT = "https://api.loganalytics.io"
DIAGNOSTIC_SETTINGS_API = "2021-05-01-preview"

THROTTLED_STATUSES = (429, 529)  # 529: the batch metrics API's throttling answer
THROTTLE_RETRIES = 8
THROTTLE_JITTER = 0.5  # a throttled call waits Retry-After times 1 to 1.5
# All attempts of one call together get at most this share of the sweep's budget: the collect
# waves run one after another, and remediation, notification and recording need their part.
CALL_SHARE = 0.2

T = TypeVar("T")


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


def _retry_policy(total_seconds: float) -> Any:
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

        def increment(self, settings: Any, response: Any = None, error: Any = None) -> bool:
            # Out of this call's time: no more attempts, and what the service last said (a 429, a
            # 503, a reset) is what the caller sees, so the blind spot names the cause, not azure-
            # core's "timeout reached".
            started = settings.setdefault("watchdog_started", time.monotonic())
            backoff = min(self.backoff_max, self.backoff_factor * 2 ** len(settings["history"]))
            wait = (self.get_retry_after(response) if error is None and response is not None else None) or backoff
            # The sleep's jitter, and a second for the first attempt (before `started`).
            if time.monotonic() - started + wait * (1 + THROTTLE_JITTER) + 1 >= settings["timeout"]:
                return False
            return super().increment(settings, response=response, error=error)

        def _sleep_for_retry(self, response: Any, transport: Any) -> bool:
            retry_after = self.get_retry_after(response)
            if not retry_after:
                return False
            transport.sleep(retry_after * (1 + random.uniform(0, THROTTLE_JITTER)))
            return True

    # The limiter keeps ARM's 429s rare, but other callers can still empty a bucket and the batch
    # metrics API throttles on its own: enough status retries to outlast a few Retry-After waits
    # (azure-core's default of 3 gave up on hundreds of calls at 5,000 resources), few other ones.
    # A hung read is retried once (each attempt bounded by the read timeout); `timeout` bounds
    # all attempts of one call together, so no call outlives the sweep's budget.
    return ThrottleRetryPolicy(retry_total=THROTTLE_RETRIES, retry_status=THROTTLE_RETRIES, retry_connect=3,
                               retry_read=1, retry_backoff_factor=0.5, retry_backoff_max=30, timeout=total_seconds)


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
            "retry_policy": _retry_policy(max(self.settings.read_timeout_seconds,
                                              self.settings.sweep_budget_seconds * CALL_SHARE)),
            "per_retry_policies": [_limiting_policy(self.limiter, lambda: self.deadline),
                                   _counting_policy(self.counter)],
            # azure-core's defaults are 300 s connect and read: one hung GET would outlive the host.
            "transport": RequestsTransport(session=self.session(), session_owner=False,
                                           connection_timeout=self.settings.connect_timeout_seconds,
                                           read_timeout=self.settings.read_timeout_seconds),
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
