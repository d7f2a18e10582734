"""pytest plugin: fixtures that start the emulator. Registered in tests/conftest.py."""
from __future__ import annotations

import functools
import socket
from typing import Any, Callable, Iterator

import pytest

from . import dns
from .runtime import Emulator


@pytest.fixture
def emulator_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Emulator]]:
    """Start an emulator for a scenario (name, path or dict); its env is applied in-process."""
    started: list[Emulator] = []

    def start(scenario: str | dict[str, Any] = "demo", apply_env: bool = True) -> Emulator:
        emu = Emulator(scenario).start()
        started.append(emu)
        if apply_env:
            emu.apply_env(monkeypatch)
            # Customer hosts resolve as the scenario says (a hostile one may say 127.0.0.1).
            monkeypatch.setattr(socket, "getaddrinfo",
                                dns.resolver(functools.partial(dns.answer, emu.world.hosts), socket.getaddrinfo))
        return emu

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """The demo scenario, fresh for each test."""
    return emulator_factory("demo")
