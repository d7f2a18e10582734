"""What the resource logs show about one resource's connections in a sweep, already aggregated
by Log Analytics (watchdog/collect/log_signals.py). Counts, caller IPs and API path shapes only:
never a URL's query string, a token or a user id."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True)
class LifetimeCluster:
    """Closed connections whose lifetime fell within a few seconds of one idle timeout."""

    timeout_seconds: int
    closes: int  # closes in the cluster
    not_server_closed: int  # ...of which nothing says the service or the app server closed them


@dataclass(frozen=True)
class TokenAge:
    """Clients refused for authentication again and again, by how long after their first
    successful connection (a stand-in for their access token's age) the refusals began."""

    BIN_MINUTES: ClassVar[int] = 5

    age_minutes: int  # lower bound of a BIN_MINUTES bin
    clients: int
    refusals: int


@dataclass(frozen=True)
class LogSignals:
    window_minutes: int
    # Servers calling the REST API (/api/...) and being rejected.
    rest_rejected: int = 0  # 401 + 403
    rest_unauthorized: int = 0  # 401 only: a key or token the service does not accept
    rest_first: datetime | None = None
    rest_last: datetime | None = None
    rest_caller_ips: tuple[str, ...] = ()
    rest_paths: tuple[str, ...] = ()  # shapes such as /api/hubs/{hub}/:send
    # Client connections refused (auth failures, throttling), and by whom.
    refusals: int = 0
    auth_refusals: int = 0
    refusal_ips: int = 0  # distinct caller IPs
    refusals_by_ip: tuple[tuple[str, int], ...] = ()  # the busiest IPs, most refusals first
    # Closed connections and their lifetimes.
    closes: int = 0
    server_closes: int = 0
    lifetime_clusters: tuple[LifetimeCluster, ...] = ()
    token_ages: tuple[TokenAge, ...] = ()
    # From the activity log, not the resource logs: when a key of this resource was last
    # regenerated (None = not seen). Filled in by the sweep, which reads the activity log anyway.
    key_regenerated_at: datetime | None = None
