"""Helpers shared by the collect/sweep integration tests."""
from __future__ import annotations

import os

import pytest

from watchdog import sweep
from watchdog.azure import AzureClients
from watchdog.models import Observation
from watchdog.settings import Settings


def settings_for(emulator, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Settings:  # noqa: ANN001
    """Settings from the emulator's env (applied in-process) plus its vaults. Each sweep keeps
    nothing between runs unless the test passes it the same `Caches`."""
    monkeypatch.setenv("WATCHDOG_KEY_VAULTS", ",".join(emulator.vault_urls()))
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(dict(os.environ))


def observe_by_name(settings: Settings, **kwargs) -> tuple[dict[str, Observation], list]:  # noqa: ANN003
    with AzureClients(settings) as clients:
        observed = sweep.observe(settings, clients=clients, **kwargs)
    return {o.resource.name: o for o in observed.observations}, observed.errors
