"""AzureClients as a context manager: leaving the block closes the clients and the connection pool."""
from __future__ import annotations

import pytest

from watchdog.azure import AzureClients
from watchdog.settings import Settings

SETTINGS = Settings.from_env({"AZURE_SUBSCRIPTION_ID": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"})


class Closable:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_leaving_the_with_block_closes_the_clients_and_the_session():
    with AzureClients(SETTINGS, credential=object()) as clients:  # type: ignore[arg-type]
        session = clients.session()
        client = clients._cached("fake", "key", Closable)
        assert clients.session() is session
    assert client.closed
    assert clients.session() is not session  # the old pool was closed; a new one is built on demand
    clients.close()


def test_the_clients_are_closed_when_the_block_fails():
    with pytest.raises(RuntimeError, match="sweep failed"):
        with AzureClients(SETTINGS, credential=object()) as clients:  # type: ignore[arg-type]
            client = clients._cached("fake", "key", Closable)
            raise RuntimeError("sweep failed")
    assert client.closed
