"""Key Vault secrets bound to resources, read and judged without the value ever leaving here.

Bindings come from the resource tag watchdog-secrets (comma-separated secret URIs) and from the
secret tag webpubsub-resource-id on secrets in the vaults of WATCHDOG_KEY_VAULTS. Each bound
secret's latest version is read (each sweep without a ledger; with one, only when it may have
changed: collect/proofs.py); its value exists only as a Sensitive inside `read_bound`, which
returns fingerprints, the parsed endpoint host and the data-plane proof.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from watchdog import connstr, tags
from watchdog.collect import dataplane, proofs
from watchdog.collect.proofs import Listed
from watchdog.models import BoundSecret, Sensitive
from watchdog.models_resource import Resource

GET_ACTION = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
LIST_ACTION = "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
_URI = re.compile(r"^(?P<vault>https://[a-z0-9-]{3,24}\.vault\.azure\.(?:net|cn|us))/secrets/"
                  r"(?P<name>[0-9a-zA-Z-]{1,127})(?:/(?P<version>[0-9a-fA-F]{32}))?/?$", re.I)


@dataclass(frozen=True)
class Binding:
    resource_id: str  # lower case
    vault_url: str  # https://<vault>.vault.azure.net, lower case
    name: str

    @property
    def uri(self) -> str:
        return f"{self.vault_url}/secrets/{self.name}"


def parse_uri(uri: str) -> tuple[str, str] | None:
    """(vault URL, secret name) of a secret URI; a version in it is ignored: the latest counts,
    since that is what apps reading the secret by name get."""
    m = _URI.match(uri.strip())
    return (m["vault"].lower(), m["name"]) if m else None


def _tag(values: dict[str, str] | None, name: str) -> str | None:
    return next((v for k, v in (values or {}).items() if k.lower() == name), None)


def from_resource_tags(resources: Iterable[Resource]) -> tuple[list[Binding], list[tuple[str, str]]]:
    """Bindings from each resource's watchdog-secrets tag, and (resource id, bad entry) for
    entries that are not secret URIs."""
    bindings, bad = [], []
    for r in resources:
        for entry in (_tag(dict(r.tags), tags.SECRETS) or "").split(","):
            if not entry.strip():
                continue
            parsed = parse_uri(entry)
            if parsed is None:
                bad.append((r.id, entry.strip()))
            else:
                bindings.append(Binding(r.id.lower(), *parsed))
    return bindings, bad


def from_vault(client: Any, vault_url: str, resource_ids: set[str]) -> tuple[list[Binding], dict[str, Listed]]:
    """Secrets in the vault tagged webpubsub-resource-id with one of `resource_ids` (lower case),
    and the attributes of every secret in it by lower-case URI (what tells a sweep which bound
    secrets changed, collect/proofs.py). `client`: the vault's SecretClient. One paged list; tags
    and attributes come with it."""
    out, listed = [], {}
    vault_url = vault_url.rstrip("/").lower()
    for props in client.list_properties_of_secrets():
        listed[f"{vault_url}/secrets/{props.name}".lower()] = proofs.listed_of(props)
        target = (_tag(props.tags, tags.RESOURCE_ID) or "").strip().rstrip("/").lower()
        if target in resource_ids:
            out.append(Binding(target, vault_url, props.name))
    return out, listed


def _disabled(exc: Exception) -> bool:
    # Key Vault answers a get of a disabled secret with 403 "Operation get is not allowed on a
    # disabled secret" (inner code SecretDisabled): a state of the secret, not a missing right.
    return getattr(exc, "status_code", None) == 403 and "disabled secret" in str(exc).lower()


def read_bound(client: Any, binding: Binding, resource: Resource,
               prove: Callable[[connstr.ConnectionString], Any] | None) -> BoundSecret:
    """Read the latest version and judge it. `prove`: the data-plane proof, or None to skip it.
    Errors other than a disabled secret propagate to the caller (a blind spot)."""
    from azure.core.exceptions import HttpResponseError

    try:
        secret = client.get_secret(binding.name)
    except HttpResponseError as exc:
        if not _disabled(exc):
            raise
        return BoundSecret(uri=binding.uri, vault_url=binding.vault_url, name=binding.name, version=None,
                           enabled=False, expires_on=None, content_type=None, tags={}, has_value=False)
    props = secret.properties
    common = dict(uri=binding.uri, vault_url=binding.vault_url, name=binding.name, version=props.version,
                  enabled=props.enabled is not False, expires_on=props.expires_on,
                  content_type=props.content_type, tags=dict(props.tags or {}), updated_on=props.updated_on)
    value = Sensitive(secret.value or "")
    del secret  # the only plain copy of the value goes out of reach here
    try:
        cs = connstr.parse(value.reveal())
    except ValueError as exc:
        return BoundSecret(**common, parse_error=str(exc), has_value=bool(value.reveal()))
    proof = None
    if prove is not None and cs.host.endswith(connstr.WEBPUBSUB_SUFFIX) and not resource.disable_local_auth:
        proof = prove(cs)
    return BoundSecret(**common, endpoint_host=cs.host, key_fingerprint=cs.access_key.fingerprint(), proof=proof)


def proof_for(client_for: Callable[[Sensitive, str], object]) -> Callable[[connstr.ConnectionString], Any]:
    return lambda cs: dataplane.prove(client_for, cs)
