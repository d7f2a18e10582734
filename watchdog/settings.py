"""Typed settings read from app settings (the environment). One place names every setting.

Every error names the setting and says how to fix it. `docs`-style descriptions live in
SETTINGS below and are checked against README, local.settings.sample.json and infra/ by tests.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from watchdog.notify.targets import NotifyConfig

MODES = ("off", "plan", "on")
PLACEHOLDER = "<NAME>"  # in a Setting name: one setting per notification target


class ConfigError(ValueError):
    """A setting is missing or malformed. The message names it and the fix."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # None = required (or derived, see description)
    description: str

    def matches(self, name: str) -> bool:
        """True if `name` is this setting; a `<NAME>` placeholder (per notification target,
        e.g. WATCHDOG_NOTIFY_<NAME>_URL) stands for an upper-case target name."""
        if PLACEHOLDER not in self.name:
            return name == self.name
        pattern = re.escape(self.name).replace(re.escape(PLACEHOLDER), "[A-Z][A-Z0-9_]*")
        return re.fullmatch(pattern, name) is not None


# The configuration reference. Order = order in the README table.
SETTINGS: tuple[Setting, ...] = (
    Setting("AZURE_SUBSCRIPTION_ID", None, "Subscription the Function App runs in; the default scope."),
    Setting("WATCHDOG_SUBSCRIPTIONS", "", "Comma-separated subscription ids to sweep. Empty: AZURE_SUBSCRIPTION_ID."),
    Setting("WATCHDOG_SCHEDULE", "0 */5 * * * *", "NCRONTAB schedule of the timer sweep."),
    Setting("WATCHDOG_KEY_VAULTS", "", "Comma-separated vault URLs searched for secrets tagged webpubsub-resource-id."),
    Setting("WATCHDOG_WINDOW_MINUTES", "30", "Metrics and logs window of a sweep, in minutes."),
    Setting("WATCHDOG_CAPACITY_WARN_PCT", "80", "Connection utilisation (% of cap) that raises a warning."),
    Setting("WATCHDOG_CAPACITY_CRIT_PCT", "90", "Connection utilisation (% of cap) that is critical."),
    Setting("WATCHDOG_SERVER_LOAD_WARN_PCT", "70", "ServerLoad (%) that raises a warning."),
    Setting("WATCHDOG_SECRET_EXPIRY_DAYS", "30", "A bound secret expiring within this many days raises a warning."),
    Setting("WATCHDOG_CONCURRENCY", "16", "Most Azure calls in flight at once."),
    Setting("WATCHDOG_PROBE_TIMEOUT_SECONDS", "5", "Wall-clock deadline of an event-handler OPTIONS probe, connection and answer together."),
    Setting("WATCHDOG_MAX_LIST_KEYS", "50", "Most listKeys calls per sweep (each spends one of ARM's 200 write tokens per subscription); the rest wait for the next sweeps, judged by the data-plane proof meanwhile."),
    Setting("WATCHDOG_PROOF_INTERVAL_MINUTES", "60", "A bound secret nothing says has changed (its version, its resource's activity log) is read and proven on the data plane again after this many minutes; sweeps in between reuse the last proof."),
    Setting("WATCHDOG_SWEEP_DEADLINE_SECONDS", "480", "ARM reads a sweep cannot make by then (cold caches of a large subscription) are deferred to the next sweeps; keep it under host.json's functionTimeout (600)."),
    Setting("WATCHDOG_PROBE_CONCURRENCY", "48", "Most event-handler probes in flight at once, on their own pool: customer hosts spend no Azure budget, and a slow handler never holds up Azure calls."),
    Setting("WATCHDOG_PROBE_PER_HOST", "16", "Most probes in flight to one handler host at once (many resources often share one host)."),
    Setting("WATCHDOG_SECRET_SYNC", "plan", "Secret sync mode: off, plan (dry run) or on."),
    Setting("WATCHDOG_SCALE", "plan", "Scale-out mode: off, plan (dry run) or on."),
    Setting("WATCHDOG_SCALE_IN", "off", "Scale-in mode: off, plan or on."),
    Setting("WATCHDOG_SCALE_THRESHOLD_PCT", "85", "Utilisation (% of cap) at or above which scaling out is planned."),
    Setting("WATCHDOG_SCALE_TARGET_PCT", "70", "Utilisation (% of cap) a scale-out aims for."),
    Setting("WATCHDOG_MAX_UNITS", "10", "Budget: most units the watchdog scales a resource to (tag watchdog-max-units overrides)."),
    Setting("WATCHDOG_MIN_UNITS", "1", "Fewest units scale-in may leave."),
    Setting("WATCHDOG_SCALE_IN_BELOW_PCT", "30", "Scale in only after utilisation stayed below this (% of cap)..."),
    Setting("WATCHDOG_SCALE_IN_AFTER_MINUTES", "120", "...for this many minutes."),
    Setting("WATCHDOG_SCALE_COOLDOWN_MINUTES", "30", "No scaling within this many minutes of the last scale."),
    Setting("WATCHDOG_OPERATION_TIMEOUT_SECONDS", "600", "Longest wait for a scale operation to finish."),
    Setting("WATCHDOG_LEDGER", "table", "Ledger backend: table (AzureWebJobsStorage) or sqlite."),
    Setting("WATCHDOG_LEDGER_TABLE", "watchdog", "Prefix of the ledger's table names."),
    Setting("WATCHDOG_SQLITE_PATH", ".state/watchdog.sqlite3", "SQLite ledger file (CLI default)."),
    Setting("AzureWebJobsStorage", "", "Functions host storage; the ledger's Table storage (connection string, or use the identity-based settings)."),
    Setting("AzureWebJobsStorage__tableServiceUri", "", "Identity-based Table endpoint of the ledger's storage account."),
    Setting("WATCHDOG_NOTIFY_TARGETS", "", "Comma-separated notification target names, e.g. ops,platform. Empty: no notifications."),
    Setting("WATCHDOG_NOTIFY_DEFAULT", "", "Targets every finding goes to. Empty: all targets; none: only those a resource's watchdog-notify tag names."),
    Setting("WATCHDOG_NOTIFY_REPEAT_HOURS", "4", "Reminder interval while a finding keeps firing, in hours; 0: no reminders."),
    Setting("WATCHDOG_NOTIFY_DEADLINE_SECONDS", "60", "Most time a sweep spends delivering notifications, retries included; the rest goes out next sweep."),
    Setting("WATCHDOG_NOTIFY_<NAME>_URL", None, "Per target (<NAME> = its name in upper case): https URL of a Teams Workflows webhook or your endpoint. Use a Key Vault reference."),
    Setting("WATCHDOG_NOTIFY_<NAME>_KIND", None, "Per target: teams or webhook."),
    Setting("WATCHDOG_NOTIFY_<NAME>_MIN_SEVERITY", "warning", "Per target: least severity it receives (info, warning or critical)."),
    Setting("WATCHDOG_NOTIFY_<NAME>_SECRET", "", "Per webhook target: the signing secret of the Standard Webhooks webhook-signature header (and the deprecated X-Watchdog-Signature): whsec_<base64> (24+ bytes) or a plain string of 16+ characters, used as its UTF-8 bytes. Use a Key Vault reference."),
)

_NAMES = {s.name for s in SETTINGS}


def _get(env: Mapping[str, str], name: str) -> str:
    assert name in _NAMES, f"setting {name} is not declared in SETTINGS"
    spec = next(s for s in SETTINGS if s.name == name)
    value = env.get(name)
    if value is None or value.strip() == "":
        return spec.default or ""
    return value.strip()


def int_setting(env: Mapping[str, str], name: str, lo: int, hi: int) -> int:
    raw = _get(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to a number from {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value} is out of range; set it to a number from {lo} to {hi}")
    return value


def _mode(env: Mapping[str, str], name: str) -> str:
    raw = _get(env, name).lower()
    if raw not in MODES:
        raise ConfigError(f"{name}={raw!r} is not a mode; set it to off, plan or on")
    return raw


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_VAULT = re.compile(r"^https://[a-z0-9-]{3,24}\.vault\.azure\.(net|cn|us)/?$", re.I)


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


@dataclass(frozen=True)
class Settings:
    subscriptions: tuple[str, ...]
    schedule: str = "0 */5 * * * *"
    key_vaults: tuple[str, ...] = ()
    window_minutes: int = 30
    capacity_warn_pct: int = 80
    capacity_crit_pct: int = 90
    server_load_warn_pct: int = 70
    secret_expiry_days: int = 30
    concurrency: int = 16
    probe_timeout_seconds: int = 5
    max_list_keys: int = 50
    proof_interval_minutes: int = 60
    sweep_deadline_seconds: int = 480
    probe_concurrency: int = 48
    probe_per_host: int = 16
    secret_sync: str = "plan"
    scale: str = "plan"
    scale_in: str = "off"
    scale_threshold_pct: int = 85
    scale_target_pct: int = 70
    max_units: int = 10
    min_units: int = 1
    scale_in_below_pct: int = 30
    scale_in_after_minutes: int = 120
    scale_cooldown_minutes: int = 30
    operation_timeout_seconds: int = 600
    ledger: str = "table"
    ledger_table: str = "watchdog"
    sqlite_path: str = ".state/watchdog.sqlite3"
    storage_connection: str = ""
    storage_table_uri: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # raw env, for sections parsed elsewhere (notify)
    notify: NotifyConfig | None = None  # parsed by watchdog.notify.targets; None = not loaded

    def modes(self, requested: str | None = None) -> dict[str, str]:
        """Remediation mode per action kind: as configured, or as a caller asks (the CLI's flags,
        the HTTP check's `mode`). `off` switches every kind off; `plan` and `on` apply to every kind
        not configured `off`, so a dry run shows exactly what acting would do."""
        configured = {"secret-sync": self.secret_sync, "scale": self.scale, "scale-in": self.scale_in}
        if requested is None:
            return configured
        if requested not in MODES:
            raise ValueError(f"mode {requested!r} is not one of {', '.join(MODES)}")
        return {kind: "off" if requested == "off" or mode == "off" else requested for kind, mode in configured.items()}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        # Imported here: notify.targets builds on this module (ConfigError, SETTINGS).
        from watchdog.notify.targets import load_notify_config

        env = dict(os.environ if env is None else env)
        subs = _csv(_get(env, "WATCHDOG_SUBSCRIPTIONS")) or _csv(_get(env, "AZURE_SUBSCRIPTION_ID"))
        if not subs:
            raise ConfigError(
                "no subscription to sweep: set AZURE_SUBSCRIPTION_ID or WATCHDOG_SUBSCRIPTIONS "
                "(comma-separated subscription ids)"
            )
        for sub in subs:
            if not _GUID.match(sub):
                raise ConfigError(f"WATCHDOG_SUBSCRIPTIONS: {sub!r} is not a subscription id (a GUID)")
        vaults = tuple(v.rstrip("/") for v in _csv(_get(env, "WATCHDOG_KEY_VAULTS")))
        for vault in vaults:
            if not _VAULT.match(vault):
                raise ConfigError(
                    f"WATCHDOG_KEY_VAULTS: {vault!r} is not a vault URL; use https://<name>.vault.azure.net"
                )
        warn = int_setting(env, "WATCHDOG_CAPACITY_WARN_PCT", 1, 100)
        crit = int_setting(env, "WATCHDOG_CAPACITY_CRIT_PCT", 1, 100)
        if warn > crit:
            raise ConfigError(
                f"WATCHDOG_CAPACITY_WARN_PCT={warn} is above WATCHDOG_CAPACITY_CRIT_PCT={crit}; the warning must come first"
            )
        ledger = _get(env, "WATCHDOG_LEDGER").lower()
        if ledger not in ("table", "sqlite"):
            raise ConfigError(f"WATCHDOG_LEDGER={ledger!r}: use table or sqlite")
        target = int_setting(env, "WATCHDOG_SCALE_TARGET_PCT", 10, 100)
        threshold = int_setting(env, "WATCHDOG_SCALE_THRESHOLD_PCT", 10, 100)
        if target >= threshold:
            raise ConfigError(
                f"WATCHDOG_SCALE_TARGET_PCT={target} must be below WATCHDOG_SCALE_THRESHOLD_PCT={threshold}, "
                "or a scale-out would not bring utilisation under the threshold"
            )
        return cls(
            subscriptions=subs,
            schedule=_get(env, "WATCHDOG_SCHEDULE"),
            key_vaults=vaults,
            window_minutes=int_setting(env, "WATCHDOG_WINDOW_MINUTES", 5, 1440),
            capacity_warn_pct=warn,
            capacity_crit_pct=crit,
            server_load_warn_pct=int_setting(env, "WATCHDOG_SERVER_LOAD_WARN_PCT", 1, 100),
            secret_expiry_days=int_setting(env, "WATCHDOG_SECRET_EXPIRY_DAYS", 0, 365),
            concurrency=int_setting(env, "WATCHDOG_CONCURRENCY", 1, 64),
            probe_timeout_seconds=int_setting(env, "WATCHDOG_PROBE_TIMEOUT_SECONDS", 1, 30),
            max_list_keys=int_setting(env, "WATCHDOG_MAX_LIST_KEYS", 0, 1000),
            proof_interval_minutes=int_setting(env, "WATCHDOG_PROOF_INTERVAL_MINUTES", 0, 1440),
            sweep_deadline_seconds=int_setting(env, "WATCHDOG_SWEEP_DEADLINE_SECONDS", 30, 3600),
            probe_concurrency=int_setting(env, "WATCHDOG_PROBE_CONCURRENCY", 1, 128),
            probe_per_host=int_setting(env, "WATCHDOG_PROBE_PER_HOST", 1, 64),
            secret_sync=_mode(env, "WATCHDOG_SECRET_SYNC"),
            scale=_mode(env, "WATCHDOG_SCALE"),
            scale_in=_mode(env, "WATCHDOG_SCALE_IN"),
            scale_threshold_pct=threshold,
            scale_target_pct=target,
            max_units=int_setting(env, "WATCHDOG_MAX_UNITS", 1, 1000),
            min_units=int_setting(env, "WATCHDOG_MIN_UNITS", 1, 1000),
            scale_in_below_pct=int_setting(env, "WATCHDOG_SCALE_IN_BELOW_PCT", 1, 100),
            scale_in_after_minutes=int_setting(env, "WATCHDOG_SCALE_IN_AFTER_MINUTES", 5, 10080),
            scale_cooldown_minutes=int_setting(env, "WATCHDOG_SCALE_COOLDOWN_MINUTES", 0, 1440),
            operation_timeout_seconds=int_setting(env, "WATCHDOG_OPERATION_TIMEOUT_SECONDS", 10, 3600),
            ledger=ledger,
            ledger_table=_get(env, "WATCHDOG_LEDGER_TABLE"),
            sqlite_path=_get(env, "WATCHDOG_SQLITE_PATH"),
            storage_connection=_get(env, "AzureWebJobsStorage"),
            storage_table_uri=_get(env, "AzureWebJobsStorage__tableServiceUri"),
            extra=env,
            notify=load_notify_config(env),
        )




def markdown_table() -> str:
    """The README's configuration reference: one row per Setting, in SETTINGS order.

    Rendered into README.md by `python infra/scripts/render_readme.py`; a test checks it is current.
    """
    rows = ["| Setting | Default | Meaning |", "|---|---|---|"]
    for s in SETTINGS:
        if s.default is None:
            default = "(required)" if PLACEHOLDER not in s.name else "(required per target)"
        elif s.default == "":
            default = "(empty)"
        else:
            default = f"`{s.default}`"
        rows.append(f"| `{s.name}` | {default} | {s.description.replace('|', '&#124;')} |")
    return "\n".join(rows)
