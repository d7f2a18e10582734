"""POST one message to one target: timeouts, bounded retries, and an honest verdict.

delivered  the target answered 2xx: record "notified".
retryable  429, 5xx, timeouts, connection errors, or the deadline ran out: stays pending and
           goes out with the next sweep.
fatal      any other answer (4xx, redirects): reported; also stays pending, since the fix is
           usually configuration and the message is still owed.

`detail` is shown in reports and logs. It never contains the URL's query string (Workflows URLs
carry their signature there): it is built from the redacted URL and exception *types*, never
from an exception's text, which for requests includes the full URL.
"""
from __future__ import annotations

import email.utils
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Callable, Mapping

import requests

from watchdog import clock
from watchdog.redact import redact_url, scrub

log = logging.getLogger(__name__)


class _RedactQuery(logging.Filter):
    """urllib3 logs each request line at DEBUG, query string and all; a Workflows URL carries
    its signature there. Strip queries from that logger's records before any handler sees them."""

    _QUERY = re.compile(r"\?[^\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "?" in text:
            record.msg, record.args = self._QUERY.sub("?<redacted>", text), None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactQuery())

USER_AGENT = "web-pubsub-watchdog"
DELIVERY_HEADER = "X-Watchdog-Delivery"  # every notifier sends the delivery id: receivers dedupe retries by it
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
BASE_DELAY = 1.0
MAX_DELAY = 30.0
# Retry-After is honoured within [MIN_RETRY_AFTER, MAX_DELAY]: "0" must not spin a retry loop,
# and a day-long value is the next sweep's business. Attempts per message are bounded too.
MIN_RETRY_AFTER = 1.0
MAX_ATTEMPTS = 5


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    FATAL = "fatal"


@dataclass(frozen=True)
class DeliveryResult:
    status: DeliveryStatus
    http_status: int | None
    attempts: int
    detail: str


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or clock.now())).total_seconds())


def _body_hint(response: requests.Response) -> str:
    # Workflows and most receivers explain a 4xx in a short body; keep a scrubbed start of it.
    try:
        text = response.text or ""
    except (UnicodeDecodeError, requests.RequestException):
        return ""
    text = " ".join(text.split())
    return f": {scrub(text, 200)}" if text else ""


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str] | Callable[[], Mapping[str, str]],
    *,
    deadline: float,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """POST `body` to `url` until accepted, fatal, or `deadline` (a `clock()` value) is reached.
    `headers` may be a function, called before each attempt (a signature's timestamp is the attempt's)."""
    where = redact_url(url)
    if not url.lower().startswith("https://"):
        return DeliveryResult(DeliveryStatus.FATAL, None, 0, f"refusing to send to a non-https URL {where}")
    http = session or requests  # module-level requests.post when the caller pools no session
    fixed = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    attempt = 0
    delay = BASE_DELAY
    while True:
        attempt += 1
        remaining = deadline - clock()
        if remaining <= 0:
            return DeliveryResult(DeliveryStatus.RETRYABLE, None, attempt - 1, f"notification deadline reached before sending to {where}")
        wait: float | None = None
        try:
            response = http.post(
                url,
                data=body,
                headers={**fixed, **(headers() if callable(headers) else headers)},
                timeout=(min(CONNECT_TIMEOUT, remaining), min(READ_TIMEOUT, remaining)),
                allow_redirects=False,  # a redirect could carry the signed body somewhere else
            )
        except requests.Timeout:
            status, code, detail = DeliveryStatus.RETRYABLE, None, f"timed out posting to {where}"
        except requests.RequestException as exc:
            status, code, detail = DeliveryStatus.RETRYABLE, None, f"{type(exc).__name__} posting to {where}"
        else:
            code = response.status_code
            if 200 <= code < 300:
                return DeliveryResult(DeliveryStatus.DELIVERED, code, attempt, f"HTTP {code} from {where}")
            if code == 429 or code >= 500:
                status, detail = DeliveryStatus.RETRYABLE, f"HTTP {code} from {where}"
                wait = retry_after(response.headers.get("Retry-After"))
            else:
                status, detail = DeliveryStatus.FATAL, f"HTTP {code} from {where}{_body_hint(response)}"
            response.close()
        log.info("notification attempt %d: %s", attempt, detail)
        if status is DeliveryStatus.FATAL:
            return DeliveryResult(status, code, attempt, detail)
        if attempt >= MAX_ATTEMPTS:
            return DeliveryResult(status, code, attempt, f"{detail}; gave up after {attempt} attempts")
        pause = min(MAX_DELAY, delay) if wait is None else min(MAX_DELAY, max(MIN_RETRY_AFTER, wait))
        if clock() + pause >= deadline:
            return DeliveryResult(status, code, attempt, f"{detail}; no time left to retry before the deadline")
        sleep(pause)
        delay *= 2
