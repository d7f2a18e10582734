"""The ledger-fault helpers (tests/ledger_faults.py) do what fault tests rely on: the real ledgers
meet a locked SQLite file, a stopped Azurite and a Table endpoint answering 503."""
from __future__ import annotations

import sqlite3

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError

from tests.ledger_faults import sqlite_locked
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.ledger.table import TableLedger
from watchdog.models import Sensitive

pytestmark = pytest.mark.integration


def _try(path, sql: str) -> str:
    conn = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        conn.execute(sql).fetchall()
        return "ok"
    except sqlite3.OperationalError as exc:
        return str(exc)
    finally:
        conn.close()


@pytest.mark.parametrize("readers, read, write", [(False, "database is locked", "database is locked"),
                                                  (True, "ok", "database is locked")])
def test_sqlite_locked_blocks_the_ledgers_file(tmp_path, readers: bool, read: str, write: str) -> None:
    path = tmp_path / "ledger.sqlite3"
    SqliteLedger(path).close()  # a ledger that exists, with its schema
    with sqlite_locked(path, readers=readers):
        assert _try(path, "SELECT count(*) FROM sqlite_master") == read
        assert _try(path, "CREATE TABLE IF NOT EXISTS probe (x)") == write
    assert _try(path, "CREATE TABLE IF NOT EXISTS probe (x)") == "ok"  # released


def test_a_stopped_azurite_refuses_the_table_ledger(table_refused: str) -> None:
    with pytest.raises(ServiceRequestError):
        TableLedger.from_connection_string(Sensitive(table_refused), "wdfault").finding_states()


def test_an_unavailable_table_service_answers_503_server_busy(table_unavailable: str) -> None:
    with pytest.raises(HttpResponseError) as caught:
        TableLedger.from_connection_string(Sensitive(table_unavailable), "wdfault").finding_states()
    assert caught.value.status_code == 503 and caught.value.error_code == "ServerBusy"
