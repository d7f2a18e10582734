"""Log columns from Microsoft, not memory: the emulator's tables and every column the watchdog's
log queries read are in Azure Monitor's table reference (learn.microsoft.com/azure/azure-monitor/
reference/tables/webpubsubconnectivity, webpubsubmessaging, webpubsubhttprequest)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from emulator.kql import Table, run
from emulator.services.logs import COLUMNS
from watchdog.collect import log_signals, logs

_COMMON = {"_BilledSize": "real", "CallerIpAddress": "string", "_IsBillable": "string", "Level": "string",
           "Location": "string", "Message": "string", "OperationName": "string", "_ResourceId": "string",
           "SourceSystem": "string", "_SubscriptionId": "string", "TenantId": "string", "TimeGenerated": "datetime",
           "Type": "string"}
DOCUMENTED = {
    "WebPubSubConnectivity": {**_COMMON, "ConnectionId": "string", "UserId": "string"},
    "WebPubSubMessaging": {**_COMMON, "ConnectionId": "string", "TraceId": "string", "UserId": "string"},
    "WebPubSubHttpRequest": {**_COMMON, "DurationMs": "string", "Headers": "string", "HttpMethod": "string",
                             "StatusCode": "string", "TraceId": "string", "Url": "string"},
}


@pytest.mark.parametrize("table", sorted(DOCUMENTED))
def test_the_emulators_columns_are_documented_with_their_types(table):
    assert {name: kind for name, kind in COLUMNS[table]}.items() <= DOCUMENTED[table].items()


@pytest.mark.parametrize("query", [logs.QUERY, log_signals.build_query(30, (60, 90, 100, 120, 230, 240))])
def test_the_queries_read_only_documented_columns(query):
    # Tables holding exactly the documented columns: an undocumented one is a SemanticError.
    documented = {t: Table(list(cols.items()), []) for t, cols in DOCUMENTED.items()}
    run(query, documented, datetime(2026, 3, 1, tzinfo=timezone.utc))
