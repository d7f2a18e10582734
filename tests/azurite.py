"""pytest plugin: Azurite's Table service on a free loopback port, for the Table ledger's tests.

    def test_x(azurite_table: str):  # a storage connection string for the running Azurite
        TableServiceClient.from_connection_string(azurite_table)

One Azurite per test session (per xdist worker), in memory: give each test its own table names.
Nothing is skipped: without Azurite the fixture fails and says how to install it.
"""
from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

AZURITE_TABLE = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "azurite-table"
# Azurite's documented, public development account: not a secret.
_ACCOUNT = "devstoreaccount1"
_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# Until Azurite answers (polled, not slept): a fresh clone's first start is cold (node loads
# every module from disk), and a busy 2-core machine stretched it past 30 s in a clone test.
_START_TIMEOUT = 90.0
_PORT_ATTEMPTS = 3  # a free port can be taken between our probe and Azurite's bind


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    """Azurite accepts connections before it serves; wait for an HTTP reply of any status."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(f"GET /{_ACCOUNT}/Tables HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            return conn.recv(16).startswith(b"HTTP/1.1")
    except OSError:
        return False


def _start(port: int, workdir: str, log) -> subprocess.Popen:
    return subprocess.Popen(
        [str(AZURITE_TABLE), "--tableHost", "127.0.0.1", "--tablePort", str(port), "--inMemoryPersistence",
         "--silent", "--skipApiVersionCheck", "--loose"],
        cwd=workdir,  # anything Azurite writes (debug logs) stays out of the repository
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def azurite_table() -> Iterator[str]:
    if not AZURITE_TABLE.exists():
        pytest.fail(f"Azurite is not installed ({AZURITE_TABLE} is missing): run `make azurite`", pytrace=False)
    with tempfile.TemporaryDirectory(prefix="azurite-") as workdir, \
            tempfile.TemporaryFile() as log:
        output = b""
        for _ in range(_PORT_ATTEMPTS):
            port = _free_port()
            try:
                process = _start(port, workdir, log)
            except OSError as error:  # e.g. node itself is missing
                pytest.fail(f"cannot start {AZURITE_TABLE} ({error}): run `make azurite`", pytrace=False)
            deadline = time.monotonic() + _START_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline and not _answers(port):
                time.sleep(0.1)
            if process.poll() is None and _answers(port):
                break
            _stop(process)
            log.seek(0)
            output = log.read()
        else:
            pytest.fail(f"Azurite's Table service did not start: {output.decode(errors='replace')[-2000:]}",
                        pytrace=False)
        try:
            yield (f"DefaultEndpointsProtocol=http;AccountName={_ACCOUNT};AccountKey={_ACCOUNT_KEY};"
                   f"TableEndpoint=http://127.0.0.1:{port}/{_ACCOUNT};")
        finally:
            _stop(process)
