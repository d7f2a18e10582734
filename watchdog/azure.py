"""The one place that builds Azure SDK clients: credential, retry, user agent, pooling, call counts.

Heavy SDK modules are imported inside the functions that need them, never when this module is
imported: the Functions host imports `function_app` on every cold start, and the SDKs are the
bulk of that time.
"""
from __future__ import annotations

import threading
from collections import Counter
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
        collecting is a read (listKeys, metrics:getBatch, log queries), so retrying is safe; the
        Retry-After header (honoured by the base policy) says how long to wait."""

        def _is_method_retryable(self, settings: Any, request: Any, response: Any = None) -> bool:
            if response is not None and response.status_code in THROTTLED_STATUSES:
                return True
            return super()._is_method_retryable(settings, request, response=response)

    # A few attempts only: a sweep runs every few minutes and reports what it could not see.
    return ThrottleRetryPolicy(retry_total=4, retry_backoff_factor=0.5, retry_backoff_max=30)


class AzureClients:
    """Builds and caches SDK clients for one sweep (or one process). Thread-safe."""

    def __init__(self, settings: Settings, credential: TokenCredential | None = None,
                 counter: CallCounter | None = None) -> None:
        self.settings = settings
        self.counter = counter or CallCounter()
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
            "per_retry_policies": [_counting_policy(self.counter)],
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
