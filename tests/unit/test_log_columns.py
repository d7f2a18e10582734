"""Log columns from Microsoft, not memory: the emulator's tables and every column the watchdog's
log queries read are in Azure Monitor's table reference (learn.microsoft.com/azure/azure-monitor/
reference/tables/webpubsubconnectivity, webpubsubmessaging, webpubsubhttprequest; and for the watchdog's
own telemetry, apprequests, appdependencies, appevents, appmetrics), and so are the columns its
alert and workbook queries (infra/core/monitor/queries/) read."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from emulator.kql import Table, run
from emulator.services.logs import COLUMNS
from watchdog.collect import logs

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
# Workspace-based Application Insights: the columns every App* table has, then each table's own.
_APP = {"AppRoleInstance": "string", "AppRoleName": "string", "AppVersion": "string", "_BilledSize": "real",
        "ClientBrowser": "string", "ClientCity": "string", "ClientCountryOrRegion": "string", "ClientIP": "string",
        "ClientModel": "string", "ClientOS": "string", "ClientStateOrProvince": "string", "ClientType": "string",
        "IKey": "string", "_IsBillable": "string", "ItemCount": "int", "Name": "string", "OperationId": "string",
        "OperationName": "string", "ParentId": "string", "Properties": "dynamic", "ResourceGUID": "string",
        "_ResourceId": "string", "SDKVersion": "string", "SessionId": "string", "SourceSystem": "string",
        "_SubscriptionId": "string", "SyntheticSource": "string", "TenantId": "string", "TimeGenerated": "datetime",
        "Type": "string", "UserAccountId": "string", "UserAuthenticatedId": "string", "UserId": "string"}
DOCUMENTED.update({
    "AppRequests": {**_APP, "DurationMs": "real", "Id": "string", "Measurements": "dynamic",
                    "PerformanceBucket": "string", "ResultCode": "string", "Source": "string", "Success": "bool",
                    "Url": "string"},
    "AppDependencies": {**_APP, "Data": "string", "DependencyType": "string", "DurationMs": "real", "Id": "string",
                        "Measurements": "dynamic", "PerformanceBucket": "string", "ResultCode": "string",
                        "Success": "bool", "Target": "string"},
    "AppEvents": {**_APP, "Measurements": "dynamic"},
    "AppMetrics": {**_APP, "Max": "real", "Min": "real", "Sum": "real"},
})
README_TELEMETRY = (Path(__file__).resolve().parents[2] / "README.md").read_text().split(
    "<!-- section: telemetry -->", 1)[1].split("<!-- /section -->", 1)[0]
MONITOR_QUERIES = sorted((Path(__file__).resolve().parents[2] / "infra" / "core" / "monitor" / "queries").glob("*.kql"))


@pytest.mark.parametrize("table", sorted(DOCUMENTED))
def test_the_emulators_columns_are_documented_with_their_types(table):
    assert {name: kind for name, kind in COLUMNS[table]}.items() <= DOCUMENTED[table].items()


@pytest.mark.parametrize("query", [logs.workspace_query(30, (60, 90, 100, 120, 230, 240), only=("/subscriptions/x",)),
                                   *(p.read_text() for p in MONITOR_QUERIES),
                                   *re.findall(r"```kusto\n(.*?)```", README_TELEMETRY, re.S)])
def test_the_queries_read_only_documented_columns(query):
    # Tables holding exactly the documented columns: an undocumented one is a SemanticError.
    documented = {t: Table(list(cols.items()), []) for t, cols in DOCUMENTED.items()}
    run(query, documented, datetime(2026, 3, 1, tzinfo=timezone.utc))
