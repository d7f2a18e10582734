"""Resource-log rows planted for the connectivity rules: one resource per failure, one healthy.

Rows are scenario rows (`minutes_ago` plus columns); `${id:name}` is the resource's id. Used by
the unit test of the log-signals query (run on the emulator's KQL engine directly) and by the
integration test (the same rows in a scenario, queried through LogsQueryClient).
"""
from __future__ import annotations

from typing import Any

SUB = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
NAMES = ("api-stale", "idle-drop", "stale-url", "storm", "calm")
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.planted-token"  # must never come back out of the watchdog
REST_IP = "198.51.100.7"
STORM_IPS = ("203.0.113.50", "203.0.113.51")


def _conn(rid: str, minutes_ago: float, op: str, message: str, conn: str, ip: str = "192.0.2.10") -> dict[str, Any]:
    return {"minutes_ago": minutes_ago, "OperationName": op, "Level": "Informational", "Message": message,
            "ConnectionId": conn, "UserId": "", "CallerIpAddress": ip, "Location": "eastus", "_ResourceId": rid}


def _http(rid: str, minutes_ago: float, url: str, status: str, ip: str, method: str = "POST") -> dict[str, Any]:
    return {"minutes_ago": minutes_ago, "OperationName": "HttpRequest", "Level": "Informational",
            "CallerIpAddress": ip, "Location": "eastus", "TraceId": "t", "HttpMethod": method, "Url": url,
            "StatusCode": status, "DurationMs": "3", "Headers": "", "_ResourceId": rid}


def tables(ids: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """`ids`: resource name -> the id to write in _ResourceId."""
    conn: list[dict[str, Any]] = []
    http: list[dict[str, Any]] = []
    # api-stale: a server keeps calling the REST API with a key the service rejects.
    api = ids["api-stale"]
    for i in range(5):
        http.append(_http(api, 20 - i, f"https://api-stale.webpubsub.azure.com/api/hubs/chat/users/alice/:send"
                                       f"?api-version=2024-12-01&sig={TOKEN}", "401", REST_IP))
    http.append(_http(api, 3, "/api/hubs/chat/groups/ops/connections/c-9", "403", "198.51.100.8", "PUT"))
    http.append(_http(api, 2, "/api/hubs/chat/:send?api-version=2024-12-01", "202", REST_IP))
    # idle-drop: 10 connections cut 59-61 s after they opened, 2 long ones closed normally.
    drop = ids["idle-drop"]
    for i in range(10):
        start = 25 - i * 2
        conn.append(_conn(drop, start, "ConnectionStarted", "Connection started", f"d-{i}"))
        conn.append(_conn(drop, start - (59 + i % 3) / 60, "ConnectionAborted", "Connection aborted.", f"d-{i}"))
    conn.append(_conn(drop, 10, "ConnectionEnded", "Connection ended", "d-long-1"))
    conn.append(_conn(drop, 40, "ConnectionStarted", "Connection started", "d-long-2"))
    conn.append(_conn(drop, 5, "ConnectionEnded", "Connection ended", "d-long-2"))
    # stale-url: three clients connect, then come back 60 minutes later with the same URL, again and again.
    url = ids["stale-url"]
    for n, ip in enumerate(("192.0.2.21", "192.0.2.22", "192.0.2.23")):
        conn.append(_conn(url, 85 - n, "ConnectionStarted", "Connection started", f"u-{n}", ip))
        for k in range(3):
            at = 25 - n - k * 0.5
            if n == 0:  # refused at the WebSocket upgrade, the token in the URL
                client_url = f"https://stale-url.webpubsub.azure.com/client/hubs/chat?access_token={TOKEN}"
                http.append(_http(url, at, client_url, "401", ip, "GET"))
            else:
                conn.append(_conn(url, at, "ConnectionAborted",
                                  "Unauthorized: Lifetime validation failed. The token is expired.", f"u-{n}-{k}", ip))
    # storm: a load test from two IPs hits the connection limit.
    storm = ids["storm"]
    for i in range(60):
        conn.append(_conn(storm, 20 - i / 10, "ConnectionAborted", "Connection count reaches limit", f"s-{i}",
                          STORM_IPS[0] if i < 42 else STORM_IPS[1]))
    for i in range(4):
        conn.append(_conn(storm, 15, "ConnectionAborted", "Connection count reaches limit", f"s-x{i}",
                          f"192.0.2.{40 + i}"))
    # calm: long-lived connections, a single 401 (a typo in a script).
    calm = ids["calm"]
    for i in range(5):
        conn.append(_conn(calm, 28, "ConnectionStarted", "Connection started", f"k-{i}"))
        conn.append(_conn(calm, 28 - 7 - i, "ConnectionEnded", "Connection ended", f"k-{i}"))
    http.append(_http(calm, 12, "/api/hubs/chat/:send", "401", REST_IP))
    return {"WebPubSubConnectivity": conn, "WebPubSubHttpRequest": http}


def scenario() -> dict[str, Any]:
    return {"name": "log-signals", "subscriptions": [{"id": SUB, "resource_groups": [{
        "name": "rg-logs", "location": "eastus",
        "workspaces": [{"name": "law-logs", "tables": tables({n: f"${{id:{n}}}" for n in NAMES})}],
        "webpubsub": [{"name": n, "sku": "Standard_S1", "diagnostics": [{"workspace": "law-logs"}]} for n in NAMES],
    }]}]}
