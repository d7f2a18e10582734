"""Helpers shared by the collect/sweep integration tests."""
from __future__ import annotations

import os

import pytest

from watchdog import sweep
from watchdog.azure import AzureClients
from watchdog.collect.cache import ResourceCache
from watchdog.collect.inventory import SkuCache
from watchdog.models import Observation
from watchdog.settings import Settings


def settings_for(emulator, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Settings:  # noqa: ANN001
    """Settings from the emulator's env (applied in-process) plus its vaults; a fresh SKU cache
    and resource cache so each test sees its own calls."""
    monkeypatch.setenv("WATCHDOG_KEY_VAULTS", ",".join(emulator.vault_urls()))
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sweep, "SKUS", SkuCache())
    monkeypatch.setattr(sweep, "RESOURCES", ResourceCache())
    return Settings.from_env(dict(os.environ))


def observe_by_name(settings: Settings, **kwargs) -> tuple[dict[str, Observation], list]:  # noqa: ANN003
    clients = AzureClients(settings)
    try:
        observed = sweep.observe(settings, clients=clients, **kwargs)
    finally:
        clients.close()
    return {o.resource.name: o for o in observed.observations}, observed.errors
