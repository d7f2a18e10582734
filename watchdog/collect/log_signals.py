"""Connectivity signals from the resource logs: legs of the workspace's one query per sweep
(logs.py adds the handler failures' leg), every figure aggregated by Log Analytics per
`_ResourceId` (a union of summarized subqueries told apart by a `Kind` column), so a sweep reads a
few rows per resource, never the raw log.

What the query relies on (docs "Troubleshoot with resource logs", the WebPubSubConnectivity and
WebPubSubHttpRequest table references):
- Connectivity rows have OperationName `ConnectionStarted`, `ConnectionEnded` (closed by the
  client or the server) or `ConnectionAborted` (unexpected; the reason in Message:
  "Connection count reaches limit", "Service reloading, reconnect", "Internal server transient error").
- A client refused for its token logs "Failed to validate audience ..." in Message.
- WebPubSubHttpRequest has Url, HttpMethod, CallerIpAddress and StatusCode as a *string*. REST
  API paths start with /api/hubs/{hub} (webpubsub.json 2024-12-01); client connections use /client/.
UNCONFIRMED, and designed so either answer works:
- Other auth-failure texts (expired tokens): matched on "Unauthorized", "validate audience",
  "token is expired", "Lifetime validation failed"; HttpRequest rows for /client/ with 401/403 count too.
- Whether client WebSocket upgrades appear in WebPubSubHttpRequest at all: if not, only the
  Connectivity messages count; if both do, a refusal may count twice (thresholds allow for it).
- Whether Url holds a full URL or a path: the path is extracted either way, query string dropped.
- Which closes the server made: Message containing "server", "reloading" or "limit" (service
  reload, transient error, connection cap, and "closed by server") counts as server-closed.
- Connection refusals for throttling: HttpRequest 429 on /client/, and ConnectionAborted with "limit".
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from watchdog.collect.errors import scrub
from watchdog.models_logs import LifetimeCluster, LogSignals, TokenAge

TOLERANCE_SECONDS = 3  # "within a few seconds" of an idle timeout
TOKEN_LOOKBACK_MINUTES = 180  # tokens last 60 minutes by default: see refusals up to two hours later
MAX_IPS = 10  # caller IPs and paths kept per resource
MIN_IP_REFUSALS = 5  # an IP listed among refusal sources has at least this many

_AUTH_MESSAGE = ('(Message has "Unauthorized" or Message has "validate audience" or Message has "token is expired"'
                 ' or Message has "Lifetime validation failed")')
_CLIENT_HTTP = 'Url contains "/client/"'
_PATH = (r'replace_regex(replace_regex(replace_regex(replace_regex(replace_regex('
         r'extract(@"^(?:[A-Za-z]+://[^/]+)?(/[^?#]*)", 1, Url), '
         r'@"/hubs/[^/]+", @"/hubs/{hub}"), @"/groups/[^/]+", @"/groups/{group}"), '
         r'@"/users/[^/]+", @"/users/{user}"), @"/connections/[^/]+", @"/connections/{connectionId}"), '
         r'@"/permissions/[^/]+", @"/permissions/{permission}")')


def scope_clause(only: Sequence[str]) -> str:
    """The condition keeping `only` these resources' rows, to start a `where` on each table with
    (rows are dropped before any aggregation, in Log Analytics and the emulator alike); "" for all."""
    return f"_ResourceId in~ ({', '.join(json.dumps(rid) for rid in only)}) and " if only else ""


def _refusals(since: str, scope: str) -> str:
    """Client connection refusals: TimeGenerated, _ResourceId, CallerIpAddress, Auth (bool)."""
    return (
        "union isfuzzy=true"
        f" (WebPubSubHttpRequest | where {scope}TimeGenerated > {since} and {_CLIENT_HTTP}"
        ' and StatusCode in ("401", "403", "429") | extend Auth = StatusCode != "429"),'
        f" (WebPubSubConnectivity | where {scope}TimeGenerated > {since} and {_AUTH_MESSAGE} | extend Auth = true),"
        f' (WebPubSubConnectivity | where {scope}TimeGenerated > {since} and OperationName == "ConnectionAborted"'
        ' and Message has "limit" | extend Auth = false)'
        " | project TimeGenerated, _ResourceId, CallerIpAddress, Auth"
    )


def build_query(window_minutes: int, idle_timeouts: Sequence[int], extra: Sequence[str] = (),
                only: Sequence[str] = ()) -> str:
    """The signals' legs in one union, with `extra` legs (each a parenthesised subquery with a Kind):
    `window_minutes` bounds every signal; lifetimes look back far enough to see the start of a
    connection closed in the window; token ages look back TOKEN_LOOKBACK_MINUTES. `only`: resource
    ids whose rows alone each table keeps (scope_clause)."""
    scope = scope_clause(only)
    window = f"ago({window_minutes}m)"
    pairs_since = f"ago({window_minutes + math.ceil((max(idle_timeouts, default=0) + TOLERANCE_SECONDS) / 60) + 1}m)"
    clusters = ", ".join(
        f"N{t} = countif(Lifetime between ({t - TOLERANCE_SECONDS}.0 .. {t + TOLERANCE_SECONDS}.0)), "
        f"C{t} = countif(Lifetime between ({t - TOLERANCE_SECONDS}.0 .. {t + TOLERANCE_SECONDS}.0)"
        " and ServerClosed == 0)" for t in idle_timeouts)
    rest = (
        f"(WebPubSubHttpRequest | where {scope}TimeGenerated > {window} and StatusCode in (\"401\", \"403\")"
        ' and Url contains "/api/"'
        f" | extend Path = {_PATH}"
        " | summarize Count = count(), Unauthorized = countif(StatusCode == \"401\"), First = min(TimeGenerated),"
        f" Last = max(TimeGenerated), CallerIps = make_set(CallerIpAddress, {MAX_IPS}),"
        f" Paths = make_set(Path, {MAX_IPS}) by _ResourceId"
        ' | extend Kind = "rest")'
    )
    refusals = (
        f"({_refusals(window, scope)}"
        " | summarize Count = count(), AuthRefusals = countif(Auth), DistinctIps = dcount(CallerIpAddress)"
        ' by _ResourceId | extend Kind = "refusals")'
    )
    by_ip = (
        f"({_refusals(window, scope)}"
        " | summarize Count = count() by _ResourceId, CallerIp = CallerIpAddress"
        f' | where Count >= {MIN_IP_REFUSALS} | extend Kind = "refusal-ip")'
    )
    lifetimes = (
        f"(WebPubSubConnectivity | where {scope}TimeGenerated > {pairs_since}"
        ' and OperationName in ("ConnectionStarted", "ConnectionEnded", "ConnectionAborted")'
        ' | summarize Start = minif(TimeGenerated, OperationName == "ConnectionStarted"),'
        ' End = maxif(TimeGenerated, OperationName != "ConnectionStarted"),'
        ' ServerClosed = countif(OperationName != "ConnectionStarted" and (Message contains "server"'
        ' or Message has "reloading" or Message has "limit")) by _ResourceId, ConnectionId'
        f" | where isnotnull(End) and End > {window}"
        " | extend Lifetime = (End - Start) / 1s"
        f" | summarize Closes = count(), ServerCloses = countif(ServerClosed > 0){', ' if clusters else ''}{clusters}"
        ' by _ResourceId | extend Kind = "lifetime")'
    )
    token_age = (
        "(union isfuzzy=true"
        f' (WebPubSubConnectivity | where {scope}OperationName == "ConnectionStarted" | extend Refused = false),'
        f" (WebPubSubConnectivity | where {scope}{_AUTH_MESSAGE} | extend Refused = true),"
        f' (WebPubSubHttpRequest | where {scope}{_CLIENT_HTTP} and StatusCode in ("401", "403") | extend Refused = true)'
        " | summarize FirstConnect = minif(TimeGenerated, not(Refused)), FirstRefusal = minif(TimeGenerated, Refused),"
        " Refusals = countif(Refused) by _ResourceId, CallerIpAddress"
        " | where Refusals >= 2 and isnotnull(FirstConnect) and FirstRefusal > FirstConnect"
        f" and FirstRefusal > {window}"
        f" | summarize Clients = count(), Count = sum(Refusals)"
        f" by _ResourceId, AgeMinutes = bin((FirstRefusal - FirstConnect) / 1m, {TokenAge.BIN_MINUTES})"
        ' | extend Kind = "token-age")'
    )
    legs = ",\n".join("  " + leg.replace(" | ", "\n    | ")
                        for leg in (rest, refusals, by_ip, lifetimes, token_age, *extra))
    return "union isfuzzy=true\n" + legs


def lookback_minutes(window_minutes: int) -> int:
    """The timespan the query needs (token ages reach furthest back)."""
    return max(window_minutes, TOKEN_LOOKBACK_MINUTES)


def parse(columns: Sequence[str], rows: Iterable[Sequence[Any]], resource_ids: Iterable[str], window_minutes: int,
          idle_timeouts: Sequence[int]) -> dict[str, LogSignals]:
    """Result rows → LogSignals per lower-case resource id. Every id in `resource_ids` gets one
    (all zeros when the logs show nothing: observed and quiet); rows of other resources are ignored."""
    fields: dict[str, dict[str, Any]] = {rid.lower(): {} for rid in resource_ids}
    index = {name: i for i, name in enumerate(columns)}

    def get(row: Sequence[Any], name: str, default: Any = None) -> Any:
        value = row[index[name]] if name in index else None
        return default if value is None else value

    for row in rows:
        rid = str(get(row, "_ResourceId", "")).rstrip("/").lower()
        if rid not in fields:
            continue
        out, kind = fields[rid], get(row, "Kind")
        if kind == "rest":
            out.update(rest_rejected=_int(get(row, "Count")), rest_unauthorized=_int(get(row, "Unauthorized")),
                       rest_first=_time(get(row, "First")), rest_last=_time(get(row, "Last")),
                       rest_caller_ips=_strings(get(row, "CallerIps")), rest_paths=_strings(get(row, "Paths")))
        elif kind == "refusals":
            out.update(refusals=_int(get(row, "Count")), auth_refusals=_int(get(row, "AuthRefusals")),
                       refusal_ips=_int(get(row, "DistinctIps")))
        elif kind == "refusal-ip":
            out.setdefault("by_ip", []).append((scrub(str(get(row, "CallerIp", ""))), _int(get(row, "Count"))))
        elif kind == "lifetime":
            out.update(closes=_int(get(row, "Closes")), server_closes=_int(get(row, "ServerCloses")),
                       lifetime_clusters=tuple(
                           LifetimeCluster(t, _int(get(row, f"N{t}")), _int(get(row, f"C{t}")))
                           for t in idle_timeouts if _int(get(row, f"N{t}"))))
        elif kind == "token-age":
            out.setdefault("ages", []).append(
                TokenAge(_int(get(row, "AgeMinutes")), _int(get(row, "Clients")), _int(get(row, "Count"))))
    signals = {}
    for rid, out in fields.items():
        by_ip = sorted(out.pop("by_ip", []), key=lambda p: (-p[1], p[0]))[:MAX_IPS]
        ages = tuple(sorted(out.pop("ages", []), key=lambda a: a.age_minutes))
        signals[rid] = LogSignals(window_minutes=window_minutes, refusals_by_ip=tuple(by_ip), token_ages=ages, **out)
    return signals


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(value).replace("Z", "+00:00"))  # 7 digits → Python's 6
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _strings(value: Any) -> tuple[str, ...]:
    """A make_set column: a list, or its JSON text (Log Analytics sends dynamic values as text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(sorted(scrub(str(v)) for v in value if v not in (None, "")))
