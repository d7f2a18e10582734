"""consumers: apps reading a bound secret that will not follow it, or hold no usable value.

- reference-failed (critical): the reference does not resolve, so the app holds the literal
  `@Microsoft.KeyVault(...)` text instead of a connection string.
- pinned-version (warning): the reference names a version; secret sync and rotation never reach it.
- stale (warning): the app resolves an older version than the secret's current one, and the
  current one is older than the grace period (App Service refetches about daily unless forced).

Needs the bound secrets (their current version and when it was written) and the consumers read
this sweep; `obs.consumers` None (not read) says nothing, the failed read is a blind spot already.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from typing import TYPE_CHECKING

from watchdog.checks._common import finding, label
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.consumers import Consumer
from watchdog.models import BoundSecret, Finding, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "consumers"
REFERENCE_FAILED = "reference-failed"
PINNED_VERSION = "pinned-version"
STALE = "stale"
REMEDY = "consumer-refresh"  # the remediation kind that answers `stale`

_FAILED_GUIDANCE = (
    "The app has no connection string, only the reference text. Fix what the status names: grant the "
    "app's identity Key Vault Secrets User on the vault (AccessToKeyVaultDenied), restore or re-create "
    "the secret (SecretNotFound/SecretVersionNotFound), enable a managed identity (MSINotEnabled); then "
    "refresh the references (POST {site}/config/configreferences/appsettings/refresh).")
_PINNED_GUIDANCE = (
    "Remove the version from the reference (SecretUri without a version, or no SecretVersion) so the app "
    "follows the latest version; a pinned app keeps the old key until someone edits its settings.")
_STALE_GUIDANCE = (
    "Force the app to resolve again: POST {site}/config/configreferences/appsettings/refresh (the watchdog "
    "does this after secret sync when WATCHDOG_CONSUMER_REFRESH is on), or restart the app.")

_NEEDS = frozenset({Source.INVENTORY, Source.SECRETS, Source.CONSUMERS})
FAILED = Check(RULE, REFERENCE_FAILED, Severity.CRITICAL,
               "an app's Key Vault reference to a bound secret does not resolve: the app has no connection string",
               _NEEDS, guidance=_FAILED_GUIDANCE)
PINNED = Check(RULE, PINNED_VERSION, Severity.WARNING,
               "an app pins a version of a bound secret: secret sync and rotation will not reach it",
               _NEEDS, guidance=_PINNED_GUIDANCE)
STALE_CHECK = Check(RULE, STALE, Severity.WARNING,
                    "an app still resolves an older version of a bound secret than its current one, past the grace "
                    "period (WATCHDOG_CONSUMER_GRACE_MINUTES)",
                    _NEEDS, remedy=REMEDY, guidance=_STALE_GUIDANCE)


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    if obs.consumers is None:
        return []
    secrets = {s.uri.lower(): s for s in obs.secrets}
    grace = timedelta(minutes=settings.consumer_grace_minutes)
    out: list[Finding] = []
    for consumer in obs.consumers:
        secret = secrets.get(consumer.secret_uri.lower())
        if not consumer.usable:
            out.append(reference_failed(obs, consumer))
        elif consumer.pinned_version is not None:
            out.append(pinned_version(obs, consumer, secret))
        elif secret is not None and is_stale(consumer, secret, now, grace):
            out.append(stale(obs, consumer, secret, now))
    return out


def is_stale(consumer: Consumer, secret: BoundSecret, now: datetime, grace: timedelta) -> bool:
    """The app resolved a version other than the current one, which was written over `grace` ago.
    Unknown current version or write time: not judged (never guessed)."""
    if not consumer.usable or consumer.pinned_version is not None or secret.version is None:
        return False
    if consumer.active_version is None or consumer.active_version == secret.version:
        return False
    return secret.updated_on is not None and now - secret.updated_on > grace


def _subject(c: Consumer) -> str:
    return f"{c.site_id}/{c.setting}"


def _evidence(c: Consumer, **more: object) -> dict[str, object]:
    return {"site": c.site_name, "site_id": c.site_id, "kind": c.kind, "setting": c.setting,
            "secret": c.secret_uri, "status": c.status, "active_version": c.active_version, **more}


def reference_failed(obs: Observation, c: Consumer) -> Finding:
    why = f": {c.details}" if c.details else ""
    return finding(
        FAILED, obs.resource.id, _subject(c),
        f"{label(obs.resource)}: app {c.site_name} setting {c.setting} has no connection string: its Key Vault "
        f"reference to {c.secret_uri} is {c.status}{why}",
        _evidence(c, details=c.details),
    )


def pinned_version(obs: Observation, c: Consumer, secret: BoundSecret | None) -> Finding:
    current = secret.version if secret is not None else None
    behind = f" (current is {current})" if current and current != c.pinned_version else ""
    return finding(
        PINNED, obs.resource.id, _subject(c),
        f"{label(obs.resource)}: app {c.site_name} setting {c.setting} pins version {c.pinned_version} of "
        f"{c.secret_uri}{behind}: secret sync and key rotation will not reach it",
        _evidence(c, pinned_version=c.pinned_version, current_version=current),
    )


def stale(obs: Observation, c: Consumer, secret: BoundSecret, now: datetime) -> Finding:
    age = int((now - secret.updated_on).total_seconds() // 60) if secret.updated_on else None
    return finding(
        STALE_CHECK, obs.resource.id, _subject(c),
        f"{label(obs.resource)}: app {c.site_name} setting {c.setting} still uses version {c.active_version} of "
        f"{c.secret_uri}; the current version {secret.version} was written {age} min ago",
        _evidence(c, current_version=secret.version, current_age_minutes=age),
    )


register(Rule(
    RULE, (FAILED, PINNED, STALE_CHECK), check,
    doc="per app that reads a bound secret through an App Service / Functions Key Vault reference, from the "
        "sites' reference status API (never the settings' values).",
))
