"""pytest plugin: the ledger's storage failing, for fault tests (the ledger is not Azure the emulator
plays: it is a local SQLite file or Azure Table Storage, so its faults are made here).

    with sqlite_locked(path):                 # another process holds the file: reads and writes fail
    with sqlite_locked(path, readers=True):   #   ... only writes fail (a writer's lock; WAL readers go on)
    def test_x(table_refused: str)            # connection string of a Table endpoint nobody listens on
    def test_x(table_unavailable: str)        # ... of one answering every call 503 ServerBusy + Retry-After

SQLite reports "database is locked" once the connection's busy timeout has passed (SqliteLedger
waits 30 s). The suite runs as any user, root included, so file permissions cannot make a file
unwritable: a held write lock does.
"""
from __future__ import annotations

import json
import socket
import sqlite3
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

# Azurite's documented, public development account: not a secret.
_ACCOUNT = "devstoreaccount1"
_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@contextmanager
def sqlite_locked(path: str | Path, readers: bool = False) -> Iterator[None]:
    """Hold the SQLite ledger's file as another process would, until the block ends.

    readers=False: an exclusive lock, nobody reads or writes. readers=True: a write lock only.
    The file is created (empty) if it does not exist yet, so a fresh ledger meets the lock too.
    """
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        if not readers:
            holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE" if not readers else "BEGIN IMMEDIATE")
        holder.execute("CREATE TABLE IF NOT EXISTS _held (x)")  # a write: the lock is taken now, not lazily
        yield
    finally:
        holder.rollback()
        holder.close()


def _connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={_ACCOUNT};AccountKey={_ACCOUNT_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{_ACCOUNT};")


@pytest.fixture
def table_refused() -> str:
    """A Table endpoint on a loopback port nothing listens on: Azurite stopped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return _connection_string(port)  # closed again: connections are refused


class _ServerBusy(BaseHTTPRequestHandler):
    """Every call: 503 in Table Storage's JSON error shape, as a throttled or failing account answers."""

    def _answer(self) -> None:
        self.server.calls += 1  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"odata.error": {"code": "ServerBusy", "message": {
            "lang": "en-US", "value": "The server is busy. (emulated ledger fault)"}}}).encode()
        self.send_response(503)
        for name, value in (("Content-Type", "application/json;odata=minimalmetadata"),
                            ("x-ms-error-code", "ServerBusy"), ("Retry-After", "1"),
                            ("Content-Length", str(len(body)))):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = _answer  # noqa: N815

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def table_unavailable() -> Iterator[str]:
    """A Table endpoint that answers every call 503 ServerBusy (Retry-After: 1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ServerBusy)
    server.calls = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _connection_string(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
