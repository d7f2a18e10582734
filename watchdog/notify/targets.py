"""Notification targets from app settings, and routing findings to them.

    WATCHDOG_NOTIFY_TARGETS=ops,platform
    WATCHDOG_NOTIFY_OPS_URL=https://...        (Key Vault reference recommended: it may carry sig=)
    WATCHDOG_NOTIFY_OPS_KIND=teams             (teams | webhook)
    WATCHDOG_NOTIFY_OPS_MIN_SEVERITY=warning
    WATCHDOG_NOTIFY_OPS_SECRET=...             (webhook only: HMAC key of X-Watchdog-Signature)
    WATCHDOG_NOTIFY_DEFAULT=ops                (empty: every target; none: tag-routed only)

A finding goes to the default targets plus those its resource's `watchdog-notify` tag names,
each keeping only findings at or above its minimum severity. Errors name the setting and never
echo a URL or secret: either may be a credential.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from watchdog import tags
from watchdog.config import ConfigError, Rows, Setting
from watchdog.models import Finding, Sensitive, Severity
from watchdog.notify import signing
from watchdog.notify.registry import get, kinds
from watchdog.redact import redact_url

# The registered notifiers (watchdog/notify/__init__.py imports them before this module).
KINDS = kinds()

SETTINGS = (
    Setting("WATCHDOG_NOTIFY_TARGETS", "", "Comma-separated notification target names, e.g. ops,platform. Empty: no notifications."),
    Setting("WATCHDOG_NOTIFY_DEFAULT", "", "Targets every finding goes to. Empty: all targets; none: only those a resource's watchdog-notify tag names."),
    Setting("WATCHDOG_NOTIFY_REPEAT_HOURS", "4", "Reminder interval while a finding keeps firing, in hours; 0: no reminders."),
    Setting("WATCHDOG_NOTIFY_DEADLINE_SECONDS", "60", "Most time a sweep spends delivering notifications, retries included; the rest goes out next sweep."),
    Setting("WATCHDOG_STATUS_URL", "", "Address of the status page as operators reach it, without a query string (never the function key): /api/check needs the key, so e.g. an API Management or Front Door route that adds the x-functions-key header and signs operators in. Teams cards and webhook alerts link to it; empty: no links."),
    Setting("WATCHDOG_NOTIFY_<NAME>_URL", None, "Per target (<NAME> = its name in upper case): https URL of a Teams Workflows webhook or your endpoint. Use a Key Vault reference."),
    Setting("WATCHDOG_NOTIFY_<NAME>_KIND", None, f"Per target: {' or '.join(KINDS)}."),
    Setting("WATCHDOG_NOTIFY_<NAME>_MIN_SEVERITY", "warning", "Per target: least severity it receives (info, warning or critical)."),
    Setting("WATCHDOG_NOTIFY_<NAME>_SECRET", "", "Per webhook target: the signing secret of the Standard Webhooks webhook-signature header (and the deprecated X-Watchdog-Signature): whsec_<base64> (24+ bytes) or a plain string of 16+ characters, used as its UTF-8 bytes. Use a Key Vault reference."),
)
_ROWS = Rows(SETTINGS)
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_RESERVED = {"none"}  # WATCHDOG_NOTIFY_DEFAULT=none means "no default targets"
_MIN_SECRET = 16


def setting_name(target: str, suffix: str) -> str:
    """WATCHDOG_NOTIFY_<NAME>_<SUFFIX> for a target name."""
    return f"WATCHDOG_NOTIFY_{target.upper()}_{suffix}"


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # a registered notifier kind (KINDS)
    url: Sensitive  # the full URL; use `.reveal()` only to send
    min_severity: Severity = Severity.WARNING
    secret: Sensitive | None = None

    @property
    def display_url(self) -> str:
        return redact_url(self.url.reveal())


@dataclass(frozen=True)
class NotifyConfig:
    targets: Mapping[str, Target]  # name -> target, in WATCHDOG_NOTIFY_TARGETS order
    defaults: tuple[str, ...]
    repeat: timedelta  # zero: no reminders
    deadline_seconds: int = 60

    def route(self, finding: Finding, resource_tags: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(targets this finding goes to, names in its watchdog-notify tag that are not targets)."""
        wanted = list(self.defaults)
        unknown: list[str] = []
        for name in _tag_names(resource_tags):
            if name not in self.targets:
                unknown.append(name)
            elif name not in wanted:
                wanted.append(name)
        chosen = tuple(n for n in wanted if finding.severity >= self.targets[n].min_severity)
        return chosen, tuple(unknown)


def _tag_names(resource_tags: Mapping[str, str]) -> Iterable[str]:
    # ARM keeps tag names' casing as typed; match the watchdog's tag case-insensitively.
    for key, value in resource_tags.items():
        if key.lower() == tags.NOTIFY:
            yield from (p.strip().lower() for p in value.split(",") if p.strip())


def _value(env: Mapping[str, str], name: str, default_of: str | None = None) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return _ROWS.get({}, default_of or name)
    return raw.strip()


def _names(raw: str) -> tuple[str, ...]:
    seen: list[str] = []
    for part in raw.split(","):
        name = part.strip().lower()
        if name and name not in seen:
            seen.append(name)
    return tuple(seen)


def _url(env: Mapping[str, str], name: str) -> Sensitive:
    setting = setting_name(name, "URL")
    raw = env.get(setting, "").strip()
    if not raw:
        raise ConfigError(f"{setting} is not set; set it to the https URL of target {name!r}")
    if raw.startswith("@Microsoft.KeyVault("):
        # App Service leaves the reference text in place when it cannot resolve it.
        raise ConfigError(
            f"{setting} is an unresolved Key Vault reference; grant the Function App's identity "
            "'Key Vault Secrets User' on the vault and check the secret URI"
        )
    try:
        parts = urlsplit(raw)
        host = parts.hostname
    except ValueError:
        raise ConfigError(f"{setting} is not a URL; set it to the https URL of target {name!r}") from None
    if parts.scheme.lower() != "https":
        # The URL itself may be a credential (Workflows URLs carry sig=): never send it in clear.
        raise ConfigError(f"{setting} must be an https URL (its scheme is {parts.scheme or 'missing'!r})")
    if not host:
        raise ConfigError(f"{setting} has no host; set it to the https URL of target {name!r}")
    if parts.username or parts.password:
        raise ConfigError(f"{setting} must not carry user:password; use {setting_name(name, 'SECRET')} to sign")
    return Sensitive(raw)


def _target(env: Mapping[str, str], name: str) -> Target:
    url = _url(env, name)
    kind_setting = setting_name(name, "KIND")
    kind = env.get(kind_setting, "").strip().lower()
    if kind not in kinds():
        raise ConfigError(f"{kind_setting}={kind!r}: set it to {' or '.join(kinds())}")
    sev_setting = setting_name(name, "MIN_SEVERITY")
    raw_sev = _value(env, sev_setting, default_of="WATCHDOG_NOTIFY_<NAME>_MIN_SEVERITY")
    try:
        min_severity = Severity.parse(raw_sev)
    except ValueError:
        raise ConfigError(f"{sev_setting}={raw_sev!r}: use info, warning or critical") from None
    secret_setting = setting_name(name, "SECRET")
    raw_secret = env.get(secret_setting, "").strip()
    secret = None
    if raw_secret:
        if not get(kind).signs:
            raise ConfigError(f"{secret_setting} is set but target {name!r} is {kind}: only webhook targets sign")
        if len(raw_secret) < _MIN_SECRET:
            raise ConfigError(f"{secret_setting} is too short; use at least {_MIN_SECRET} random characters")
        try:
            signing.secret_key(raw_secret)
        except ValueError as exc:
            raise ConfigError(f"{secret_setting} {exc}") from None
        secret = Sensitive(raw_secret)
    return Target(name=name, kind=kind, url=url, min_severity=min_severity, secret=secret)


_PER_TARGET_URL = re.compile(r"^WATCHDOG_NOTIFY_([A-Z0-9_]+)_URL$")


def _reject_unlisted(env: Mapping[str, str], names: tuple[str, ...]) -> None:
    # A target given a URL but not listed would silently never be notified: say so at start-up.
    # (Only the URL counts: the sample settings carry inert defaults for an example target.)
    for key, value in env.items():
        match = _PER_TARGET_URL.match(key)
        if match and value.strip() and match.group(1).lower() not in names:
            raise ConfigError(
                f"{key} is set but {match.group(1).lower()!r} is not in WATCHDOG_NOTIFY_TARGETS; "
                "add it there or remove the setting"
            )


def load_notify_config(env: Mapping[str, str]) -> NotifyConfig:
    """Parse and validate every notification setting; raises ConfigError naming the bad one."""
    names = _names(_value(env, "WATCHDOG_NOTIFY_TARGETS"))
    for name in names:
        if not _NAME.match(name) or name in _RESERVED:
            raise ConfigError(
                f"WATCHDOG_NOTIFY_TARGETS: {name!r} is not a usable target name; use letters, digits "
                "and single underscores, starting with a letter (not 'none')"
            )
    targets = {name: _target(env, name) for name in names}
    _reject_unlisted(env, names)

    raw_default = _value(env, "WATCHDOG_NOTIFY_DEFAULT")
    if raw_default.lower() == "none":
        defaults: tuple[str, ...] = ()
    elif raw_default == "":
        defaults = names
    else:
        defaults = _names(raw_default)
        for name in defaults:
            if name not in targets:
                raise ConfigError(
                    f"WATCHDOG_NOTIFY_DEFAULT names {name!r}, which is not in WATCHDOG_NOTIFY_TARGETS"
                )

    repeat_hours = _ROWS.int(env, "WATCHDOG_NOTIFY_REPEAT_HOURS", 0, 24 * 30)
    deadline = _ROWS.int(env, "WATCHDOG_NOTIFY_DEADLINE_SECONDS", 5, 600)
    return NotifyConfig(
        targets=targets, defaults=defaults, repeat=timedelta(hours=repeat_hours), deadline_seconds=deadline
    )
