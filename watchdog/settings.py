"""Typed settings read from app settings (the environment), and the one bootstrap `load(env)`.

Each feature declares its own `Setting` rows (watchdog.config) beside its code: the rules their
thresholds, each remediation its mode and tuning, the notifiers their targets. `SETTINGS` gathers
them in the README's order; tests check it against README, local.settings.sample.json and infra/.
Every error names the setting and says how to fix it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Mapping

from watchdog.checks import capacity, key_drift, posture
from watchdog.config import MODES, PLACEHOLDER, ConfigError, Rows, Setting, csv
from watchdog.config import markdown_table as _markdown_table
from watchdog.models import Sensitive
from watchdog.notify import targets as notify_targets
from watchdog.notify.targets import NotifyConfig, load_notify_config
from watchdog.remediate import registry as remediations
from watchdog.remediate import alerts as alerts_remedy
from watchdog.remediate import rotate, scale

__all__ = ["MODES", "PLACEHOLDER", "SETTINGS", "ConfigError", "Setting", "Settings", "int_setting", "load"]

_SWEEP = (
    Setting("AZURE_SUBSCRIPTION_ID", None, "Subscription the Function App runs in; the default scope."),
    Setting("WATCHDOG_SUBSCRIPTIONS", "", "Comma-separated subscription ids to sweep. Empty: AZURE_SUBSCRIPTION_ID."),
    Setting("WATCHDOG_SCHEDULE", "0 */5 * * * *", "NCRONTAB schedule of the timer sweep."),
    Setting("WATCHDOG_KEY_VAULTS", "", "Comma-separated vault URLs searched for secrets tagged webpubsub-resource-id, and the only vaults secret sync writes to, whatever a tag says (infra grants exactly these)."),
    Setting("WATCHDOG_WINDOW_MINUTES", "30", "Metrics and logs window of a sweep, in minutes."),
)
_COLLECTION = (
    Setting("WATCHDOG_CONCURRENCY", "32", "Most Azure calls in flight at once (ARM calls are paced by its limits besides, log queries by their own limit of 5)."),
    Setting("WATCHDOG_PROBE_TIMEOUT_SECONDS", "5", "Wall-clock deadline of an event-handler OPTIONS probe, connection and answer together."),
    Setting("WATCHDOG_MAX_LIST_KEYS", "50", "Most listKeys calls per sweep (each spends one of ARM's 200 write tokens per subscription); the rest wait for the next sweeps, judged by the data-plane proof meanwhile."),
    Setting("WATCHDOG_PROOF_INTERVAL_MINUTES", "60", "A bound secret nothing says has changed (its version, its resource's activity log) is read and proven on the data plane again within this many minutes, each secret at its own slot so re-proofs spread over the sweeps; sweeps in between reuse the last proof, a rejected one included."),
    Setting("WATCHDOG_PROBE_INTERVAL_MINUTES", "30", "An event handler whose last probe passed, whose resource's settings did not change, whose hub shows no failures in the logs and whose host resolves as before is probed again within this many minutes, each at its own slot (about 1/6 per 5-minute sweep at 30); failed handlers are probed every sweep. 0 probes every handler every sweep."),
    Setting("WATCHDOG_SWEEP_DEADLINE_SECONDS", "480", "ARM reads a sweep cannot make by then (cold caches of a large subscription) are deferred to the next sweeps; keep it under host.json's functionTimeout (600)."),
    Setting("WATCHDOG_SWEEP_BUDGET_SECONDS", "540", "The whole sweep's time (collect, remediate, notify, record), kept under host.json's functionTimeout (600): each stage gets what is left, recording keeps a reserve; a scale still running then is recorded in progress and verified by the next sweep."),
    Setting("WATCHDOG_CONNECT_TIMEOUT_SECONDS", "5", "Connect timeout of every Azure call."),
    Setting("WATCHDOG_READ_TIMEOUT_SECONDS", "30", "Read timeout of every Azure call (between bytes; a hung read is retried once)."),
    Setting("WATCHDOG_PROBE_CONCURRENCY", "48", "Most event-handler probes in flight at once, on their own pool: customer hosts spend no Azure budget, and a slow handler never holds up Azure calls."),
    Setting("WATCHDOG_PROBE_PER_HOST", "16", "Most probes in flight to one handler host at once (many resources often share one host)."),
    Setting("WATCHDOG_IDLE_TIMEOUTS", "60,90,100,120,230,240", "Comma-separated idle timeouts (seconds) of proxies, load balancers and gateways; closed connections whose lifetime clusters within 3 s of one raise connectivity/idle-timeout."),
)
# Apps that read bound secrets (watchdog/collect/consumers.py); the refresh's mode is declared on it.
_CONSUMERS = (
    Setting("WATCHDOG_CONSUMER_RESTART", "off", "on: restart an app whose references still show the old version after the refresh. off: never restart an app."),
    Setting("WATCHDOG_CONSUMER_GRACE_MINUTES", "60", "An app still resolving an older version of a bound secret than its current one, written longer ago than this, raises consumers/stale."),
)
_LEDGER = (
    Setting("WATCHDOG_LEDGER", "table", "Ledger backend: table (AzureWebJobsStorage) or sqlite."),
    Setting("WATCHDOG_LEDGER_TABLE", "watchdog", "Prefix of the ledger's table names."),
    Setting("WATCHDOG_SQLITE_PATH", ".state/watchdog.sqlite3", "SQLite ledger file (CLI default)."),
    Setting("WATCHDOG_RETENTION_DAYS", "90", "Resolved findings, notification states told resolved and audit rows older than this many days are pruned (at most 500 rows a sweep); a sweep reads only open state."),
    Setting("WATCHDOG_SQLITE_BUSY_SECONDS", "5", "How long a SQLite ledger call waits for another process's lock before the ledger counts as unavailable."),
    Setting("AzureWebJobsStorage", "", "Functions host storage; the ledger's Table storage (connection string, or use the identity-based settings)."),
    Setting("AzureWebJobsStorage__tableServiceUri", "", "Identity-based Table endpoint of the ledger's storage account."),
)

# The configuration reference. Order = order in the README table.
SETTINGS: tuple[Setting, ...] = (
    *_SWEEP,
    *capacity.SETTINGS,
    *key_drift.SETTINGS,
    *posture.SETTINGS,
    *_COLLECTION,
    *(r.setting for r in remediations.remediations()),
    *_CONSUMERS,
    *rotate.SETTINGS,
    *scale.SETTINGS,
    *alerts_remedy.SETTINGS,
    *_LEDGER,
    *notify_targets.SETTINGS,
)
_ROWS = Rows(SETTINGS)
_get = _ROWS.get
int_setting = _ROWS.int
_mode = _ROWS.mode
_csv = csv


def _on_off(env: Mapping[str, str], name: str) -> bool:
    raw = _get(env, name).lower()
    if raw not in ("on", "off"):
        raise ConfigError(f"{name}={raw!r} is not on or off; set it to on or off")
    return raw == "on"


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_VAULT = re.compile(r"^https://[a-z0-9-]{3,24}\.vault\.azure\.(net|cn|us)/?$", re.I)


def _idle_timeouts(env: Mapping[str, str]) -> tuple[int, ...]:
    raw = _get(env, "WATCHDOG_IDLE_TIMEOUTS")
    values = _csv(raw)
    if not values or not all(v.isdigit() and 10 <= int(v) <= 3600 for v in values):
        raise ConfigError(f"WATCHDOG_IDLE_TIMEOUTS={raw!r}: list whole seconds from 10 to 3600, e.g. 60,90,240")
    return tuple(sorted({int(v) for v in values}))


def _status_url(raw: str) -> str:
    """Links in messages carry this URL: refuse one that would carry a key, a user or a query."""
    if raw and not re.fullmatch(r"https://[a-z0-9.-]+(:\d+)?(/[^?#@\s]*)?", raw, re.I):
        raise ConfigError("WATCHDOG_STATUS_URL must be https://host/path without user, query string "
                          "or fragment (links carry it into messages; never put the function key here)")
    return raw


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
    concurrency: int = 32
    probe_timeout_seconds: int = 5
    max_list_keys: int = 50
    proof_interval_minutes: int = 60
    probe_interval_minutes: int = 30
    sweep_deadline_seconds: int = 480
    sweep_budget_seconds: int = 540
    connect_timeout_seconds: float = 5
    read_timeout_seconds: float = 30
    probe_concurrency: int = 48
    probe_per_host: int = 16
    idle_timeouts: tuple[int, ...] = (60, 90, 100, 120, 230, 240)
    secret_sync: str = "plan"
    consumer_refresh: str = "plan"  # off, plan, on; from_env derives it from secret_sync when unset
    consumer_restart: bool = False
    consumer_grace_minutes: int = 60
    rotate: str = "off"
    rotate_days: int = 90
    rotate_grace_minutes: int = 60
    scale: str = "plan"
    scale_in: str = "off"
    alerts: str = "off"
    alerts_action_group: str = ""
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
    sqlite_busy_seconds: float = 5
    retention_days: int = 90
    storage_connection: Sensitive | None = None  # AzureWebJobsStorage: may hold an AccountKey
    storage_table_uri: str = ""
    required_tags: tuple[str, ...] = ("environment", "team", "cost-center")
    status_url: str = ""
    notify: NotifyConfig | None = None  # parsed by watchdog.notify.targets; None = not loaded

    def modes(self, requested: str | None = None) -> dict[str, str]:
        """Remediation mode per registered kind: as configured, or the minimum of configured and
        what a caller asks (the CLI's flags, the HTTP check's `mode`); see
        watchdog.remediate.registry.modes."""
        configured = {r.kind: getattr(self, r.attr) for r in remediations.remediations()}
        return remediations.modes(configured, requested)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """The settings, notification targets included (`load(env)[0]`)."""
        return load(env)[0]

    @classmethod
    def _parse(cls, env: Mapping[str, str]) -> "Settings":
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
            probe_interval_minutes=int_setting(env, "WATCHDOG_PROBE_INTERVAL_MINUTES", 0, 1440),
            sweep_deadline_seconds=int_setting(env, "WATCHDOG_SWEEP_DEADLINE_SECONDS", 30, 3600),
            sweep_budget_seconds=int_setting(env, "WATCHDOG_SWEEP_BUDGET_SECONDS", 5, 3600),
            connect_timeout_seconds=int_setting(env, "WATCHDOG_CONNECT_TIMEOUT_SECONDS", 1, 60),
            read_timeout_seconds=int_setting(env, "WATCHDOG_READ_TIMEOUT_SECONDS", 1, 300),
            probe_concurrency=int_setting(env, "WATCHDOG_PROBE_CONCURRENCY", 1, 128),
            probe_per_host=int_setting(env, "WATCHDOG_PROBE_PER_HOST", 1, 64),
            idle_timeouts=_idle_timeouts(env),
            secret_sync=_mode(env, "WATCHDOG_SECRET_SYNC"),
            consumer_refresh=_mode(env, "WATCHDOG_CONSUMER_REFRESH") if _get(env, "WATCHDOG_CONSUMER_REFRESH")
            else _mode(env, "WATCHDOG_SECRET_SYNC"),
            consumer_restart=_on_off(env, "WATCHDOG_CONSUMER_RESTART"),
            consumer_grace_minutes=int_setting(env, "WATCHDOG_CONSUMER_GRACE_MINUTES", 0, 10080),
            rotate=_mode(env, "WATCHDOG_ROTATE"),
            rotate_days=int_setting(env, "WATCHDOG_ROTATE_DAYS", 0, 3650),
            rotate_grace_minutes=int_setting(env, "WATCHDOG_ROTATE_GRACE_MINUTES", 0, 10080),
            scale=_mode(env, "WATCHDOG_SCALE"),
            scale_in=_mode(env, "WATCHDOG_SCALE_IN"),
            alerts=_mode(env, "WATCHDOG_ALERTS"),
            alerts_action_group=_action_group(_get(env, alerts_remedy.ACTION_GROUP)),
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
            sqlite_busy_seconds=int_setting(env, "WATCHDOG_SQLITE_BUSY_SECONDS", 0, 60),
            retention_days=int_setting(env, "WATCHDOG_RETENTION_DAYS", 1, 3650),
            storage_connection=Sensitive(raw) if (raw := _get(env, "AzureWebJobsStorage")) else None,
            storage_table_uri=_get(env, "AzureWebJobsStorage__tableServiceUri"),
            required_tags=tuple(_csv(_get(env, "WATCHDOG_REQUIRED_TAGS"))),
            status_url=_status_url(_get(env, "WATCHDOG_STATUS_URL")),
        )


_ACTION_GROUP = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/microsoft\.insights/actionGroups/[^/]+$",
                           re.I)


def _action_group(value: str) -> str:
    if value and not _ACTION_GROUP.match(value):
        raise ConfigError(f"{alerts_remedy.ACTION_GROUP}: {value!r} is not an action group resource id; use "
                          "/subscriptions/<id>/resourceGroups/<group>/providers/microsoft.insights/actionGroups/<name>")
    return value


def load(env: Mapping[str, str] | None = None) -> tuple[Settings, NotifyConfig]:
    """The one bootstrap of the CLI, the HTTP check and the timer: every setting parsed and
    validated, raising ConfigError naming the first bad one. The Settings carry the NotifyConfig
    too (`settings.notify`), for the sweep's notify stage."""
    env = dict(os.environ if env is None else env)
    settings = Settings._parse(env)
    notify = load_notify_config(env)
    return replace(settings, notify=notify), notify


def markdown_table() -> str:
    """The README's configuration reference: one row per Setting, in SETTINGS order.

    Rendered into README.md by `python infra/scripts/render_readme.py`; a test checks it is current.
    """
    return _markdown_table(SETTINGS)
