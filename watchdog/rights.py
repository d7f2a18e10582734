"""The shape of a permission row: what a feature needs from Azure and where. Imports nothing of the
watchdog, so a remediation can declare its rights beside its code and `watchdog.permissions` (the
manifest, the single source of truth for least privilege) can gather them."""
from __future__ import annotations

from dataclasses import dataclass

SUBSCRIPTION = "subscription"
KEY_VAULT = "key-vault"
OWN_STORAGE = "own-storage"


@dataclass(frozen=True)
class Feature:
    name: str
    scope: str  # SUBSCRIPTION, KEY_VAULT or OWN_STORAGE
    why: str  # one line for the README: what the watchdog does with these rights
    actions: tuple[str, ...] = ()  # control-plane (ARM) actions
    data_actions: tuple[str, ...] = ()  # data-plane actions
    writes: bool = False  # left out when the deployment parameter reportOnly is true
    roles: tuple[BuiltInRole, ...] = ()  # built-in roles that grant it on its scope, when not the scope's usual ones


@dataclass(frozen=True)
class BuiltInRole:
    name: str
    id: str  # role definition GUID, the same in every subscription
    data_actions: tuple[str, ...]  # what it grants, as Microsoft documents it (for the tests)
