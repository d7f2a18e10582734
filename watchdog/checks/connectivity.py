"""connectivity: what the resource logs say about clients and servers failing to connect.

Reads `obs.log_signals` (watchdog/collect/log_signals.py: one aggregated query per workspace per
sweep). None means the logs were not read (no workspace, or the query failed): the blind-spot and
posture rules say so, and these rules stay silent rather than guess.

`connectivity/unauthorized` is critical when the REST 401s began after a key regeneration the
activity log shows (`LogSignals.key_regenerated_at`, filled in by the sweep; None = not seen):
then some consumer still holds the old key even though every Key Vault secret may be fine.
"""
from __future__ import annotations

from datetime import datetime

from typing import TYPE_CHECKING

from watchdog.checks._common import finding, label, pct
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.models import Finding, Observation, Severity
from watchdog.models_logs import LogSignals, TokenAge

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "connectivity"

MIN_REST_REJECTIONS = 3  # fewer is a typo in a script, not a consumer with a stale key
MIN_CLIENT_AUTH_REFUSALS = 10  # clients with expired URLs retry; a handful is normal churn
MIN_CLUSTER_CLOSES = 5
MIN_CLUSTER_SHARE = 0.3  # of all closes in the window
MIN_TOKEN_CLIENTS = 2  # clients refused again and again at the same token age
MIN_TOKEN_SHARE = 0.5  # ...out of all such clients
MIN_TOKEN_AGE_MINUTES = 10  # refusals right after connecting are a bad token, not an old one
MIN_IP_REFUSALS = 50  # refusals in the window before concentration means anything
TOP_IPS = 3
MIN_TOP_SHARE = 0.8  # the top IPs' share of all refusals

_NEEDS = frozenset({Source.INVENTORY, Source.LOGS})
UNAUTHORIZED = Check(
    RULE, "unauthorized", Severity.WARNING,
    "servers' REST calls rejected (401/403) or clients refused for authentication; critical when the 401s "
    "began after a key regeneration the activity log shows",
    _NEEDS, also=(Severity.CRITICAL,),
    guidance="Find the callers and give them the current connection string (or an Entra identity with the Web "
             "PubSub Service Owner role for 403s). Key Vault secrets may be current while an app caches an old "
             "copy: reload it after every key rotation.",
)
IDLE_TIMEOUT = Check(
    RULE, "idle-timeout", Severity.WARNING,
    "a large share of closed connections lived about as long as a common intermediary idle timeout "
    "(WATCHDOG_IDLE_TIMEOUTS) and were not closed by the service",
    _NEEDS,
    guidance="Raise the proxy/load balancer/App Gateway idle timeout or keep the socket busy (keep-alive).",
)
TOKEN_EXPIRY = Check(
    RULE, "token-expiry", Severity.WARNING,
    "clients refused again and again at one regular age of their access token: they never refresh their URL",
    _NEEDS,
    guidance="Fetch a fresh client access URL (negotiate) before every reconnect.",
)
THROTTLED_IPS = Check(
    RULE, "throttled-ips", Severity.WARNING,
    "connection refusals concentrated on a few client IPs (load test, reconnect loop, connection storm)",
    _NEEDS,
    guidance="Find the clients behind these IPs: a load test, a reconnect loop or a connection storm.",
)


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    signals = obs.log_signals
    if signals is None:
        return []
    return [*_unauthorized(obs, signals), *_idle_timeout(obs, signals), *_token_expiry(obs, signals),
            *_throttled_ips(obs, signals)]


def _unauthorized(obs: Observation, s: LogSignals) -> list[Finding]:
    res, out = obs.resource, []
    if s.rest_rejected >= MIN_REST_REJECTIONS:
        regen = s.key_regenerated_at
        after_regen = (regen is not None and s.rest_unauthorized > 0 and s.rest_first is not None
                       and s.rest_first >= regen)
        why = (f"after its key was regenerated at {regen:%Y-%m-%d %H:%M} UTC: a consumer still uses the old key"
               if after_regen else "a server uses a key or token the service does not accept")
        out.append(finding(
            UNAUTHORIZED, res.id, "rest-api",
            f"{label(res)}: {s.rest_rejected} REST API call(s) rejected (401: {s.rest_unauthorized}, "
            f"403: {s.rest_rejected - s.rest_unauthorized}) in {s.window_minutes} min; {why}",
            {"rest_rejected": s.rest_rejected, "rest_401": s.rest_unauthorized, "caller_ips": list(s.rest_caller_ips),
             "paths": list(s.rest_paths), "first": _iso(s.rest_first), "last": _iso(s.rest_last),
             "key_regenerated_at": _iso(regen)},
            severity=Severity.CRITICAL if after_regen else Severity.WARNING,
            guidance="Find the callers below and give them the current connection string (or an Entra identity "
                 "with the Web PubSub Service Owner role for 403s). Key Vault secrets may be current while an "
                 "app caches an old copy: restart or reload it after every key rotation.",
        ))
    if s.auth_refusals >= MIN_CLIENT_AUTH_REFUSALS:
        out.append(finding(
            UNAUTHORIZED, res.id, "client-connections",
            f"{label(res)}: {s.auth_refusals} client connection(s) refused for authentication "
            f"in {s.window_minutes} min",
            {"auth_refusals": s.auth_refusals, "refusal_ips": s.refusal_ips},
            guidance="Clients present access tokens the service rejects (expired, wrong audience or hub, or signed "
                 "with a regenerated key). Check how the app server builds client access URLs and which key it "
                 "signs with.",
        ))
    return out


def _idle_timeout(obs: Observation, s: LogSignals) -> list[Finding]:
    if not s.closes:
        return []
    clusters = [c for c in s.lifetime_clusters if c.not_server_closed >= MIN_CLUSTER_CLOSES
                and c.not_server_closed / s.closes >= MIN_CLUSTER_SHARE]
    if not clusters:
        return []
    top = max(clusters, key=lambda c: (c.not_server_closed, -c.timeout_seconds))
    share = 100.0 * top.not_server_closed / s.closes
    res = obs.resource
    return [finding(
        IDLE_TIMEOUT, res.id, res.id,
        f"{label(res)}: {pct(share)} of closed connections ({top.not_server_closed} of {s.closes}) lived "
        f"about {top.timeout_seconds} s and were not closed by the service",
        {"lifetime_seconds": top.timeout_seconds, "closes_in_cluster": top.not_server_closed,
         "closes": s.closes, "share_pct": share, "server_closes": s.server_closes},
        guidance=f"Something between clients and the service drops idle sockets after {top.timeout_seconds} s: "
                 "raise the idle timeout of the proxy, load balancer or Application Gateway (and corporate "
                 "firewalls), or keep the connection busy (WebSocket keep-alive/ping well under that; the hub's "
                 "keep-alive interval defaults to 20 s), and make clients reconnect.",
    )]


def _token_expiry(obs: Observation, s: LogSignals) -> list[Finding]:
    ages = [a for a in s.token_ages if a.age_minutes >= MIN_TOKEN_AGE_MINUTES]
    clients = sum(a.clients for a in s.token_ages)
    if not ages or not clients:
        return []
    top = max(ages, key=lambda a: (a.clients, a.refusals))
    if top.clients < MIN_TOKEN_CLIENTS or top.clients / clients < MIN_TOKEN_SHARE:
        return []
    res = obs.resource
    return [finding(
        TOKEN_EXPIRY, res.id, res.id,
        f"{label(res)}: {top.clients} client(s) refused again and again ({top.refusals} refusals) "
        f"{top.age_minutes}–{top.age_minutes + TokenAge.BIN_MINUTES} min after they first connected: "
        "their access tokens expired",
        {"age_minutes": top.age_minutes, "clients": top.clients, "refusals": top.refusals,
         "clients_refused_repeatedly": clients},
        guidance="The clients reconnect with the access URL they were first given. Client access tokens expire "
                 "(60 minutes by default): fetch a fresh URL from your negotiate endpoint before every reconnect, "
                 "or issue longer-lived tokens where that is acceptable.",
    )]


def _throttled_ips(obs: Observation, s: LogSignals) -> list[Finding]:
    if s.refusals < MIN_IP_REFUSALS or not s.refusals_by_ip:
        return []
    top = s.refusals_by_ip[:TOP_IPS]
    share = sum(n for _, n in top) / s.refusals
    if share < MIN_TOP_SHARE:
        return []
    res = obs.resource
    return [finding(
        THROTTLED_IPS, res.id, res.id,
        f"{label(res)}: {pct(100.0 * share)} of {s.refusals} refused connections came from "
        f"{len(top)} IP address(es) ({', '.join(ip for ip, _ in top)})",
        {"refusals": s.refusals, "top_ips": [f"{ip}: {n}" for ip, n in top], "distinct_ips": s.refusal_ips,
         "top_share_pct": 100.0 * share},
        guidance="A few sources open connections faster than the service accepts them: a load test, a client "
                 "stuck in a reconnect loop without backoff, or a connection storm after an outage. Add jittered "
                 "exponential backoff to reconnects and spread load tests over more source IPs.",
    )]


register(Rule(
    RULE, (UNAUTHORIZED, IDLE_TIMEOUT, TOKEN_EXPIRY, THROTTLED_IPS), check,
    doc="per resource, from one aggregated query per workspace per sweep (see \"Log queries\"). When the logs "
        "could not be read these rules say nothing and blind-spot says why.",
))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
