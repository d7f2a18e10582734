"""The probes' HTTP session: connections checked by netguard at connect time, and a wall-clock
deadline per probe.

requests' timeouts are per socket operation, so a handler that trickles one byte a second keeps
a probe alive for ever. A Deadline shuts the socket of the connection in use down when it
expires, which ends whatever read is blocked on it (headers or body) from another thread.

Direct connections resolve, check every address and connect only to checked ones in one step,
so a name re-pointed after the probe's first check (DNS rebinding) is refused too. Through a
proxy the proxy resolves the name itself: the probe checks the addresses its own resolver gives
just before the request, and the few milliseconds between the two lookups are the residual risk
(README, "Event-handler probes").
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from watchdog.collect import netguard

_current = threading.local()


class GuardRefused(NewConnectionError):
    """A connection netguard refused at connect time; `verdict` says why."""

    def __init__(self, conn: Any, verdict: netguard.Verdict) -> None:
        super().__init__(conn, f"refused by the probe guard: {verdict.reason}")
        self.verdict = verdict


class Deadline:
    """A wall-clock limit on one probe, for the thread that enters it."""

    def __init__(self, seconds: float) -> None:
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._done = False
        self._conn: Any = None
        self._sock: socket.socket | None = None  # a new connection's socket, before conn.sock is set
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "Deadline":
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
        _current.deadline = None

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def claim(self, conn: Any) -> None:
        """`conn` now carries this probe; a pooled connection is claimed anew by each user."""
        with self._lock:
            self._conn = conn
            conn.watchdog_deadline = self

    def opened(self, sock: socket.socket) -> None:
        """A socket just connected for this probe; cut at once if the deadline passed meanwhile."""
        with self._lock:
            self._sock = sock
            late = self.expired
        if late:
            _cut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            conn = self._conn
            # Handed back to the pool and taken by another probe: not ours to cut.
            owned = conn is not None and getattr(conn, "watchdog_deadline", None) is self
            # conn.sock is set only once connect() returns (after a proxy's CONNECT): until then, the
            # socket opened() saw.
            sock = (conn.sock or self._sock) if owned else None
        if sock is not None:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    """Ends any read blocked on `sock`, from another thread (the plain socket's shutdown: TLS
    state is left alone)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def current() -> Deadline | None:
    return getattr(_current, "deadline", None)


class _Guarded:
    """Mixed into urllib3's connections: netguard at connect time, the deadline on every use."""

    proxy: Any
    port: int
    timeout: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        deadline = current()
        sock = self._connect_checked(deadline)
        if deadline is not None:
            deadline.opened(sock)
        return sock

    def _connect_checked(self, deadline: Deadline | None) -> socket.socket:
        if self.proxy is not None:  # to the configured proxy; the target was checked before the request
            return super()._new_conn()  # type: ignore[misc]
        verdict = netguard.check_host(self._dns_host, self.port)
        if verdict.reason is not None:
            raise GuardRefused(self, verdict)
        name, last = self._dns_host, None
        for ip in verdict.addresses:
            if deadline is not None:
                left = deadline.remaining()
                self.timeout = min(self.timeout, left) if isinstance(self.timeout, (int, float)) else left
            self._dns_host = str(ip)  # connect to the checked address; TLS still names the host
            try:
                return super()._new_conn()  # type: ignore[misc]
            except NewConnectionError as exc:  # ConnectTimeoutError is one too
                last = exc
            finally:
                self._dns_host = name
        raise last or GuardRefused(self, verdict)

    def connect(self) -> None:
        if (deadline := current()) is not None:
            deadline.claim(self)
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        if (deadline := current()) is not None:
            deadline.claim(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


def refusal(exc: BaseException) -> netguard.Verdict | None:
    """The guard's verdict inside a requests/urllib3 exception chain, if that is what failed."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, GuardRefused):
            return item.verdict
        todo.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    return None


def new_session(size: int) -> Any:
    """A requests.Session for probes only (see handlers.new_session)."""
    import requests
    from requests.adapters import HTTPAdapter

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = POOLS

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            manager.pool_classes_by_scheme = POOLS  # the deadline still applies through a proxy
            return manager

    session = requests.Session()
    adapter = Adapter(pool_connections=32, pool_maxsize=size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
