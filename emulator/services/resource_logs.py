"""Resource-log rows the emulated services write as they serve, like Azure's diagnostic pipeline.

A Web PubSub resource's diagnostic settings decide where rows go: every workspace of a setting
that enables the row's category receives it. Rows are kept as scenario rows are (`Workspace.tables`,
TimeGenerated a datetime on the emulator's clock), so the Log Analytics service answers them.
"""
from __future__ import annotations

import secrets
from typing import Any

from ..world import WebPubSub, World, utcnow

HTTP_CATEGORY = "HttpRequestLogs"
HTTP_TABLE = "WebPubSubHttpRequest"


def http_request(world: World, res: WebPubSub, method: str, path: str, status: int,
                 caller_ip: str = "", duration_ms: float = 0.0) -> None:
    """One REST API request to the data plane (HttpRequestLogs). `path` has no query string.
    Columns per AZURE-FACTS "Resource logs"; UNCONFIRMED: the OperationName and Level values."""
    row: dict[str, Any] = {
        "TimeGenerated": utcnow(),
        "OperationName": "RestApiRequest",
        "Level": "Warning" if status >= 400 else "Informational",
        "CallerIpAddress": caller_ip,
        "Location": res.location,
        "TraceId": secrets.token_hex(8),
        "HttpMethod": method,
        "Url": f"https://{res.host}{path}",
        "StatusCode": str(status),
        "DurationMs": str(round(duration_ms)),
        "Headers": "",
        "_ResourceId": res.id.lower(),
    }
    with world.lock:
        for diag in res.diagnostics:
            if HTTP_CATEGORY not in diag.categories:
                continue
            ws = world.workspace(diag.workspace_id)
            if ws is not None:
                ws.tables.setdefault(HTTP_TABLE, []).append(dict(row))
