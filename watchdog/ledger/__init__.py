"""The ledger: audit trail, cooldowns, key fingerprints, finding and notification states, leases.

`open_ledger(settings)` picks the backend named by WATCHDOG_LEDGER: `table` (Azure Table Storage
of AzureWebJobsStorage, the Function App default) or `sqlite` (a local file, the CLI default).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from watchdog.config import ConfigError
from watchdog.ledger.base import AuditEntry, FindingState, KeyRecord, Ledger, NotifyState

if TYPE_CHECKING:
    from watchdog.settings import Settings

__all__ = ["AuditEntry", "FindingState", "KeyRecord", "Ledger", "NotifyState", "open_ledger"]


def open_ledger(settings: Settings) -> Ledger:
    # Backends are imported here so the CLI with SQLite never loads the Azure Tables SDK.
    if settings.ledger == "sqlite":
        from watchdog.ledger.sqlite import SqliteLedger

        return SqliteLedger(settings.sqlite_path, busy_seconds=settings.sqlite_busy_seconds)
    if settings.ledger == "table":
        from watchdog.ledger.table import TableLedger

        if settings.storage_connection:
            return TableLedger.from_connection_string(settings.storage_connection, settings.ledger_table)
        if settings.storage_table_uri:
            return TableLedger.from_endpoint(settings.storage_table_uri, settings.ledger_table)
        raise ConfigError(
            "WATCHDOG_LEDGER=table needs storage: set AzureWebJobsStorage to a storage connection string, "
            "or AzureWebJobsStorage__tableServiceUri to the Table endpoint (identity-based, needs the "
            "Storage Table Data Contributor role), or set WATCHDOG_LEDGER=sqlite"
        )
    raise ConfigError(f"WATCHDOG_LEDGER={settings.ledger!r}: use table or sqlite")
