"""The emulated services. Order matters only in that customer hosts are matched first."""
from __future__ import annotations

import importlib

from ..world import World
from .base import Service

# module name -> class name; each module serves one Azure API family.
SERVICES = (
    ("customer", "CustomerHosts"),
    ("arm", "Arm"),
    ("metrics", "BatchMetrics"),
    ("logs", "LogAnalytics"),
    ("keyvault", "KeyVault"),
    ("dataplane", "DataPlane"),
)


def all_services(world: World) -> list[Service]:
    services = []
    for module, cls in SERVICES:
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise
            continue  # not built yet
        services.append(getattr(mod, cls)(world))
    return services
