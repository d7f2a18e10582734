"""Resource and secret tags the watchdog reads. Documented in the README's "Tags" table."""

# On a Web PubSub resource
IGNORE = "watchdog-ignore"  # any value but "false": the sweep skips the resource
SECRETS = "watchdog-secrets"  # comma-separated Key Vault secret URIs holding its connection string
CAPACITY_WARN = "watchdog-capacity-warn"  # % of cap, overrides WATCHDOG_CAPACITY_WARN_PCT
CAPACITY_CRIT = "watchdog-capacity-crit"  # % of cap, overrides WATCHDOG_CAPACITY_CRIT_PCT
MAX_UNITS = "watchdog-max-units"  # scaling budget, overrides WATCHDOG_MAX_UNITS
NOTIFY = "watchdog-notify"  # comma-separated notification target names, on top of the defaults

# On a Key Vault secret
RESOURCE_ID = "webpubsub-resource-id"  # ARM id of the resource whose connection string it holds
KEY = "webpubsub-key"  # primary (default) or secondary: which key secret sync writes
WRITTEN_BY = "watchdog-written-by"  # set by secret sync and on the alert rules the alerts remediation creates
WRITTEN_KEY = "watchdog-key"  # set by secret sync: which key the value holds

# On a Web PubSub resource, for rotation
ROTATE_DAYS = "watchdog-rotate-days"  # whole days, overrides WATCHDOG_ROTATE_DAYS (0: never rotate)


def rotate_days(resource_tags: dict[str, str] | None, default: int) -> int | None:
    """The rotation limit in days: the tag's when it is a whole number from 0 to 3650, else the
    setting's. None when the tag is set but unusable (the rotation rule reports it)."""
    raw = (resource_tags or {}).get(ROTATE_DAYS)
    if raw is None:
        return default
    raw = raw.strip()
    return int(raw) if raw.isdigit() and int(raw) <= 3650 else None
