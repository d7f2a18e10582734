"""App Service and Function apps whose app settings are Key Vault references, and what they do
with the connection string they resolved (the emulated side of AZURE-FACTS "App Service /
Functions Key Vault references").

A reference is resolved against the emulated vaults: the latest version, or the version it pins.
The app keeps the value it resolved until it resolves again, which happens on
- the reference refresh (`POST {site}/config/configreferences/appsettings/refresh`),
- a restart or configuration change,
- the 24-hour refetch App Service does by itself (lazily, on the emulator's clock: time travel
  past it and the next read sees the new resolution).
A reference that does not resolve leaves its literal `@Microsoft.KeyVault(...)` text as the value.

A site may run a *consumer*: the app's own use of the connection string. `consume()` makes one
real data-plane call (through the emulator's proxy, with the Web PubSub SDK) using the value it
resolved last, so a key regenerated under it is rejected with 401, which the service logs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .world import Vault, World, utcnow

REFETCH = timedelta(hours=24)  # App Service refetches unversioned references about daily
SITE_TYPE = "Microsoft.Web/sites"

# Statuses of a reference (ApiKVReference.status, Microsoft.Web spec): the ones the emulator gives.
RESOLVED = "Resolved"
ACCESS_DENIED = "AccessToKeyVaultDenied"
SECRET_NOT_FOUND = "SecretNotFound"
VERSION_NOT_FOUND = "SecretVersionNotFound"
VAULT_NOT_FOUND = "VaultNotFound"
INVALID_SYNTAX = "InvalidSyntax"

# A scenario's `sites:` entry (under a resource group): an app, its app settings (none: an app that
# reads no secret, e.g. one serving event handlers) and the custom host names it answers besides
# <name>.azurewebsites.net.
SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": False, "required": ["name"],
                          "properties": {
                              "name": {"type": "string", "pattern": "^[a-zA-Z0-9][a-zA-Z0-9-]{0,58}$"},
                              "kind": {"type": "string"}, "location": {"type": "string"},
                              "settings": {"type": "object", "additionalProperties": {"type": "string"}},
                              "denied": {"type": "array", "items": {"type": "string"}},
                              "consumer": {"type": "string"}, "hub": {"type": "string"},
                              "custom_hosts": {"type": "array", "items": {"type": "string"}}}}

_REF = re.compile(r"^@Microsoft\.KeyVault\((?P<body>.*)\)$", re.S)
_URI = re.compile(r"^https://(?P<vault>[A-Za-z0-9-]+)\.vault\.azure\.net/secrets/(?P<name>[A-Za-z0-9-]+)"
                  r"(?:/(?P<version>[0-9a-fA-F]{32})?)?/?$")


def parse(text: str) -> tuple[str, str, str | None] | None:
    """(vault, secret, version or None) of a reference text, or None when it is not valid syntax."""
    m = _REF.match(text.strip())
    if not m:
        return None
    body = m["body"].strip()
    if body.lower().startswith("secreturi="):
        u = _URI.match(body.split("=", 1)[1].strip())
        return (u["vault"].lower(), u["name"], u["version"]) if u else None
    parts = dict(p.split("=", 1) for p in body.split(";") if "=" in p)
    parts = {k.strip().lower(): v.strip() for k, v in parts.items()}
    if not parts.get("vaultname") or not parts.get("secretname"):
        return None
    return parts["vaultname"].lower(), parts["secretname"], parts.get("secretversion") or None


@dataclass
class Reference:
    """One app setting whose value is a Key Vault reference, and what the app resolved last."""

    setting: str
    text: str  # the literal @Microsoft.KeyVault(...) value of the setting
    denied: bool = False  # the app's identity may not read the vault (no role / access policy)
    status: str = "Initialized"
    active_version: str | None = None
    details: str = ""
    value: str | None = None  # what the app sees: the secret, or `text` when unresolved
    resolved_at: datetime | None = None

    @property
    def parsed(self) -> tuple[str, str, str | None] | None:
        return parse(self.text)


@dataclass
class ConsumerCall:
    at: datetime
    status: int | None  # the data plane's answer; None = no call made (no connection string)
    detail: str = ""


@dataclass
class Site:
    subscription_id: str
    resource_group: str
    name: str
    location: str = "eastus"
    kind: str = "app"  # app | functionapp (Microsoft's kinds add ,linux etc.)
    references: dict[str, Reference] = field(default_factory=dict)  # setting -> reference
    plain_settings: dict[str, str] = field(default_factory=dict)  # settings that are not references
    consumer_setting: str | None = None  # the setting holding the connection string it uses
    consumer_hub: str = "chat"
    custom_hosts: tuple[str, ...] = ()  # host names besides default_host_name (hostNames)
    calls: list[ConsumerCall] = field(default_factory=list)
    restarts: int = 0
    refreshes: int = 0

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/" \
               f"{SITE_TYPE}/{self.name}"

    @property
    def default_host_name(self) -> str:
        return f"{self.name.lower()}.azurewebsites.net"


def add_site(world: World, subscription_id: str, resource_group: str, name: str, *,
             settings: dict[str, str], location: str = "eastus", kind: str = "app",
             denied: tuple[str, ...] = (), consumer: str | None = None, hub: str = "chat",
             custom_hosts: tuple[str, ...] = ()) -> Site:
    """Create an app (as its deployment would) and resolve its references once, as its start does.
    `denied`: settings whose vault the app's identity may not read; `consumer`: the setting whose
    connection string the app uses for data-plane calls."""
    site = Site(subscription_id, resource_group, name, location, kind, consumer_setting=consumer, consumer_hub=hub,
                custom_hosts=tuple(custom_hosts))
    for setting, value in settings.items():
        if value.strip().startswith("@Microsoft.KeyVault("):
            site.references[setting] = Reference(setting, value, denied=setting in denied)
        else:
            site.plain_settings[setting] = value
    if consumer is not None and consumer not in settings:
        raise ValueError(f"consumer setting {consumer!r} is not one of the app's settings")
    with world.lock:
        if site.id.lower() in world.sites:
            raise ValueError(f"site {name!r} exists already")
        world.resource_groups.add(f"{subscription_id}/{resource_group}".lower())
        world.sites[site.id.lower()] = site
        resolve_all(world, site)
    return site


def resolve(world: World, ref: Reference, now: datetime) -> None:
    """Resolve one reference now, as App Service does with the app's identity."""
    ref.resolved_at = now
    parsed = ref.parsed
    status, version, value, details = _lookup(world, parsed, ref.denied)
    ref.status, ref.details = status, details
    if status == RESOLVED:
        ref.active_version, ref.value = version, value
    else:  # the app sees the reference text itself
        ref.active_version, ref.value = None, ref.text


def _lookup(world: World, parsed: tuple[str, str, str | None] | None,
            denied: bool) -> tuple[str, str | None, str | None, str]:
    if parsed is None:
        return INVALID_SYNTAX, None, None, "The reference is not valid Key Vault reference syntax."
    vault_name, secret, version = parsed
    vault: Vault | None = world.vaults.get(vault_name)
    if vault is None:
        return VAULT_NOT_FOUND, None, None, f"Key Vault '{vault_name}' was not found."
    if denied or vault.forbidden or secret in vault.forbidden_secrets:
        return ACCESS_DENIED, None, None, "Access to the Key Vault was denied for the app's identity."
    versions = [v for v in vault.secrets.get(secret, []) if v.enabled]
    if not versions:
        return SECRET_NOT_FOUND, None, None, f"Secret '{secret}' was not found in '{vault_name}'."
    if version is None:
        chosen = versions[-1]
    else:
        chosen = next((v for v in versions if v.version == version), None)
        if chosen is None:
            return VERSION_NOT_FOUND, None, None, f"Version '{version}' of secret '{secret}' was not found."
    return RESOLVED, chosen.version, chosen.value, ""


def resolve_all(world: World, site: Site) -> None:
    now = utcnow()
    with world.lock:
        for ref in site.references.values():
            resolve(world, ref, now)


def settle(world: World, site: Site) -> None:
    """App Service's own 24-hour refetch, applied lazily on the emulator's clock."""
    now = utcnow()
    with world.lock:
        for ref in site.references.values():
            if ref.resolved_at is None or now - ref.resolved_at >= REFETCH:
                resolve(world, ref, now)


def restart(world: World, site: Site) -> None:
    with world.lock:
        site.restarts += 1
        resolve_all(world, site)


def connection_string(site: Site) -> str | None:
    """What the consumer reads from its setting right now (the value it resolved last)."""
    if site.consumer_setting is None:
        return None
    ref = site.references.get(site.consumer_setting)
    return ref.value if ref is not None else site.plain_settings.get(site.consumer_setting)


def consume(world: World, site: Site, proxy: str, ca_bundle: str) -> ConsumerCall:
    """One data-plane call by the app with the connection string it resolved last: send_to_all on
    its hub, through the emulator's proxy, with the Web PubSub SDK (no retries: one call, one answer)."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError
    from azure.messaging.webpubsubservice import WebPubSubServiceClient

    with world.lock:
        settle(world, site)
        value = connection_string(site)
    if not value or value.lstrip().startswith("@Microsoft.KeyVault("):
        call = ConsumerCall(utcnow(), None, "no connection string: the reference did not resolve")
    else:
        try:
            client = WebPubSubServiceClient.from_connection_string(
                value, hub=site.consumer_hub, proxies={"https": proxy}, connection_verify=ca_bundle,
                retry_total=0, connection_timeout=5, read_timeout=10)
        except ValueError:
            call = ConsumerCall(utcnow(), None, "the setting does not hold a connection string")
        else:
            with client:
                try:
                    client.send_to_all("ping", content_type="text/plain")
                    call = ConsumerCall(utcnow(), 202)
                except HttpResponseError as exc:
                    call = ConsumerCall(utcnow(), exc.status_code, str(getattr(exc, "reason", "") or ""))
                except ServiceRequestError:
                    call = ConsumerCall(utcnow(), None, "the service could not be reached")
    with world.lock:
        site.calls.append(call)
    return call


def reference_body(site: Site, ref: Reference) -> dict[str, Any]:
    """ApiKVReference as `GET {site}/config/configreferences/appsettings[/{name}]` returns it."""
    parsed = ref.parsed
    vault, secret, version = parsed if parsed else (None, None, None)
    return {
        "id": f"{site.id}/config/configreferences/appsettings/{ref.setting}",
        "name": ref.setting,
        # UNCONFIRMED: the type string Azure puts on these proxy resources.
        "type": "Microsoft.Web/sites/config/configreferences",
        "properties": {
            "reference": ref.text,
            "status": ref.status,
            "vaultName": vault,
            "secretName": secret,
            "secretVersion": version,
            "identityType": {"type": "SystemAssigned"},
            "details": ref.details or None,
            "source": "KeyVault",
            "activeVersion": ref.active_version,
        },
    }


def site_body(site: Site) -> dict[str, Any]:
    """A Microsoft.Web/sites list entry: what discovery needs, never the app's settings."""
    return {
        "id": site.id,
        "name": site.name,
        "type": SITE_TYPE,
        "kind": site.kind,
        "location": site.location,
        "properties": {
            "state": "Running",
            "enabled": True,
            "defaultHostName": site.default_host_name,
            "hostNames": [site.default_host_name, *site.custom_hosts],
            "resourceGroup": site.resource_group,
            "keyVaultReferenceIdentity": "SystemAssigned",
        },
        "identity": {"type": "SystemAssigned"},
    }
