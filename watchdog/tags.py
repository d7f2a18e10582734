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
