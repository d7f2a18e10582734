"""Consumers of a bound secret: App Service and Function apps whose app settings are Key Vault
references to it, as the sites' Key Vault reference status API reports them.

Plain data and pure parsing, no I/O. Nothing here holds a setting's value: the status API gives
the reference text (`@Microsoft.KeyVault(...)`, which names a secret, never holds one), the
version the app resolved, and a status (AZURE-FACTS "App Service / Functions Key Vault references").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

from watchdog.models_resource import WebSite

RESOLVED = "Resolved"
INITIALIZED = "Initialized"
# Every status of ApiKVReference (Microsoft.Web spec); all but these two mean "no usable value".
STATUSES = (RESOLVED, INITIALIZED, "InvalidSyntax", "MSINotEnabled", "VaultNotFound", "SecretNotFound",
            "SecretVersionNotFound", "AccessToKeyVaultDenied", "OtherReasons", "FetchTimedOut",
            "UnauthorizedClient")

_REF = re.compile(r"^\s*@Microsoft\.KeyVault\((?P<body>.*)\)\s*$", re.I | re.S)
_SECRET_URI = re.compile(r"^https://(?P<vault>[a-z0-9-]{3,24})\.vault\.azure\.(?P<cloud>net|cn|us)/secrets/"
                         r"(?P<name>[0-9a-z-]{1,127})(?:/(?P<version>[0-9a-f]{32})?)?/?$", re.I)


@dataclass(frozen=True)
class KeyVaultRef:
    """What a reference points at. `version` None = follows the latest version."""

    vault: str  # vault name, lower case
    name: str  # secret name
    version: str | None = None

    def matches(self, vault_url: str, name: str) -> bool:
        """True when this reference reads the secret `name` of the vault at `vault_url`."""
        host = vault_url.lower().removeprefix("https://").split("/", 1)[0]
        return host.split(".", 1)[0] == self.vault and name.lower() == self.name.lower()


def parse_reference(text: str) -> KeyVaultRef | None:
    """The secret a `@Microsoft.KeyVault(SecretUri=...)` or `@Microsoft.KeyVault(VaultName=...;
    SecretName=...[;SecretVersion=...])` reference names; None when the text is not one."""
    m = _REF.match(text or "")
    if not m:
        return None
    parts: dict[str, str] = {}
    for piece in m["body"].split(";"):
        key, sep, value = piece.partition("=")
        if sep:
            parts[key.strip().lower()] = value.strip()
    if "secreturi" in parts:
        u = _SECRET_URI.match(parts["secreturi"])
        return KeyVaultRef(u["vault"].lower(), u["name"], u["version"] or None) if u else None
    vault, name = parts.get("vaultname", ""), parts.get("secretname", "")
    if not re.fullmatch(r"[A-Za-z0-9-]{3,24}", vault) or not re.fullmatch(r"[0-9A-Za-z-]{1,127}", name):
        return None
    return KeyVaultRef(vault.lower(), name, parts.get("secretversion") or None)


@dataclass(frozen=True)
class Site:
    """An App Service or Function app, as the subscription's sites list gives it."""

    id: str
    name: str
    resource_group: str
    location: str
    kind: str  # app, functionapp, app,linux, functionapp,linux, ...
    default_host_name: str = ""


@dataclass(frozen=True)
class Consumer:
    """One app setting of one app that reads a bound secret through a Key Vault reference."""

    site_id: str
    site_name: str
    kind: str
    setting: str  # the app setting's name
    secret_uri: str  # https://<vault>.vault.azure.net/secrets/<name>: BoundSecret.uri
    status: str  # Resolved, AccessToKeyVaultDenied, SecretNotFound, ... (STATUSES)
    pinned_version: str | None = None  # the reference names a version: it never follows a new one
    active_version: str | None = None  # the version the app resolved
    details: str = ""  # the API's explanation of a failed status (no secrets in it)
    read_at: datetime | None = None

    @property
    def usable(self) -> bool:
        """The app holds a connection string (Initialized: not resolved yet, not failed)."""
        return self.status in (RESOLVED, INITIALIZED)


def site_from_listed(listed: WebSite) -> Site:
    """An entry of the shared sites list (watchdog/collect/sites.py) -> Site. Raises ValueError
    when its id names no resource group."""
    parts = listed.id.split("/")
    if len(parts) < 9 or parts[3].lower() != "resourcegroups":
        raise ValueError(f"not a site id: {listed.id!r}")
    return Site(listed.id, listed.name or parts[-1], parts[4], listed.location, listed.kind,
                listed.host_names[0] if listed.host_names else "")


def consumers_from_references(site: Site, items: Iterable[Mapping[str, Any]],
                              secrets: Iterable[tuple[str, str]], read_at: datetime | None) -> list[Consumer]:
    """The references of `site` (the `value` of GET .../config/configreferences/appsettings) that
    read one of `secrets` ((vault URL, secret name) pairs), as Consumers. Only Key Vault sources
    count; the vault and secret come from the API's fields, else from the reference text."""
    wanted = list(secrets)
    out: list[Consumer] = []
    for item in items:
        props = item.get("properties") or {}
        if str(props.get("source") or "KeyVault").lower() != "keyvault":
            continue
        ref = _target(props)
        if ref is None:
            continue
        for vault_url, name in wanted:
            if ref.matches(vault_url, name):
                out.append(Consumer(
                    site_id=site.id, site_name=site.name, kind=site.kind,
                    setting=str(item.get("name") or "").rsplit("/", 1)[-1],
                    secret_uri=f"{vault_url.rstrip('/').lower()}/secrets/{name}",
                    status=str(props.get("status") or INITIALIZED),
                    pinned_version=ref.version, active_version=props.get("activeVersion") or None,
                    details=str(props.get("details") or ""), read_at=read_at))
                break
    return out


def _target(props: Mapping[str, Any]) -> KeyVaultRef | None:
    vault, name = props.get("vaultName"), props.get("secretName")
    if vault and name:
        return KeyVaultRef(str(vault).lower(), str(name), props.get("secretVersion") or None)
    return parse_reference(str(props.get("reference") or ""))


def holdouts(consumers: Iterable[Consumer], secret_uri: str, version: str | None) -> list[Consumer]:
    """Consumers of `secret_uri` not proven to resolve `version`: failed, not resolved yet, pinned,
    or on another version. Empty means every app reading the secret has moved to `version` (what a
    rotation waits for before it regenerates the key the old version holds). Unknown `version`:
    every consumer is a holdout (nothing is proven)."""
    uri = secret_uri.lower()
    return [c for c in consumers if c.secret_uri.lower() == uri and not (
        version is not None and c.status == RESOLVED and c.active_version == version
        and c.pinned_version in (None, version))]
