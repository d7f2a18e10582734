"""Event-handler probe results kept in the ledger and reused until something says they may differ.

Probing every handler every sweep is one TLS handshake per handler (1,000+ at 1,000 resources) that
almost always learns nothing. A handler is probed again only when:
- there is no record (a new handler, or one whose URL, hub or pattern changed);
- its last probe failed (re-probed every sweep until it passes, so a fix shows at once);
- its resource's settings were re-read this sweep because they changed (the activity log, cache.py)
  or the entry aged out;
- the resource logs show failures for its hub (`with_log_errors`, after the log query);
- its host resolves to other addresses than at the last probe (one lookup per host per sweep);
- its slot in WATCHDOG_PROBE_INTERVAL_MINUTES came (spread.py: about 1/6 of the handlers per
  5-minute sweep at the default 30 minutes, never all at once).
Otherwise the recorded HandlerProbe stands in. The record keeps what HandlerProbe keeps (the
redacted URL, never the template's query string) and the host's addresses at probe time.
"""
from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from watchdog.collect import netguard, spread
from watchdog.ledger.base import CacheEntry
from watchdog.models import HandlerLogError, HandlerProbe, Sensitive
from watchdog.models_resource import EventHandler

log = logging.getLogger("watchdog.sweep")

KIND = "handler-probe"  # per "<lower-case resource id>|<hub>|<redacted url>|<pattern>"
Pair = tuple[EventHandler, Sensitive]


def key(resource_id: str, handler: EventHandler) -> str:
    return f"{resource_id.lower()}|{handler.hub}|{handler.url_redacted}|{handler.user_event_pattern or ''}"


def addresses(host: str, url: str) -> tuple[str, ...]:
    """The host's addresses, sorted; () when it does not resolve (the probe then says why)."""
    try:
        port = urlsplit(url).port or 443
        return tuple(sorted({str(a) for a in netguard.resolve(host, port)}))
    except (OSError, ValueError):
        return ()


def why_probe(record: CacheEntry | None, settings_reread: bool, resolved: tuple[str, ...], now: datetime,
              interval: timedelta) -> str | None:
    """Why this handler must be probed this sweep, or None when its record will do."""
    if record is None:
        return "no record"
    if not record.payload["ok"]:
        return "last probe failed"
    if settings_reread:
        return "resource settings re-read"
    if tuple(record.payload["addresses"]) != resolved:
        return "host resolves differently"
    if spread.due(record.key, record.fetched_at, now, interval):
        return "probe interval slot"
    return None


def to_entry(resource_id: str, probe: HandlerProbe, resolved: tuple[str, ...], at: datetime) -> CacheEntry:
    return CacheEntry(KIND, key(resource_id, probe.handler),
                      {"ok": probe.ok, "cause": probe.cause, "status": probe.status, "detail": probe.detail,
                       "addresses": list(resolved)}, at)


def from_entry(handler: EventHandler, record: CacheEntry) -> HandlerProbe:
    p = record.payload
    return HandlerProbe(handler, ok=p["ok"], cause=p["cause"], status=p["status"], detail=p["detail"])


@dataclass
class Plan:
    """Per lower-case resource id: the handlers to probe now, and the probes their records stand in for."""

    due: dict[str, list[Pair]] = field(default_factory=dict)
    reused: dict[str, list[HandlerProbe]] = field(default_factory=dict)
    resolved: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by lower-case host
    reasons: Counter[str] = field(default_factory=Counter)  # why the due ones are due, for the log


def plan(store: Any, found: Mapping[str, Sequence[Pair]], settings_reread: set[str],
         resolve: Callable[[Iterable[tuple[str, str]]], dict[str, tuple[str, ...]]], now: datetime,
         interval: timedelta) -> Plan:
    """`store`: the ledger (one batched read of every record); `resolve`: (host, url) pairs -> addresses
    by lower-case host (resolve_all)."""
    records: dict[str, CacheEntry] = store.cached_all(KIND)
    hosts = {h.host.lower(): h.url_redacted for pairs in found.values() for h, _ in pairs}
    out = Plan(resolved=resolve(hosts.items()))
    for rid, pairs in found.items():
        for h, t in pairs:
            record = records.get(key(rid, h))
            why = why_probe(record, rid in settings_reread, out.resolved.get(h.host.lower(), ()), now, interval)
            if why is None and record is not None:
                out.reused.setdefault(rid, []).append(from_entry(h, record))
            else:
                out.due.setdefault(rid, []).append((h, t))
                out.reasons[why or "no record"] += 1
    log.info("handler probes: %d due (%s), %d records reused", sum(out.reasons.values()),
             ", ".join(f"{why}: {n}" for why, n in out.reasons.most_common()) or "none",
             sum(len(v) for v in out.reused.values()))
    return out


def with_log_errors(p: Plan, found: Mapping[str, Sequence[Pair]],
                    log_errors: Mapping[str, Sequence[HandlerLogError]]) -> dict[str, list[Pair]]:
    """Handlers whose record was reused although the logs show failures for their hub: probed now,
    their reused probes taken out of the plan."""
    extra: dict[str, list[Pair]] = {}
    for rid, reused in list(p.reused.items()):
        hubs = {e.hub for e in log_errors.get(rid, ())}
        if hubs:
            p.reused[rid] = [probe for probe in reused if probe.handler.hub not in hubs]
            taken = {probe.handler for probe in reused if probe.handler.hub in hubs}
            if pairs := [(h, t) for h, t in found.get(rid, ()) if h in taken]:
                extra[rid] = pairs
    if extra:
        log.info("handler probes: %d more, their hubs failing in the logs", sum(len(v) for v in extra.values()))
    return extra


def keep(store: Any, p: Plan, fresh: Mapping[str, Sequence[HandlerProbe]], now: datetime) -> None:
    """Record this sweep's probes in one batched write. A probe cut by the sweep deadline is not a
    probe: it never reaches `fresh`, and the old record (if any) stays."""
    store.put_cached(*(to_entry(rid, probe, p.resolved.get(probe.handler.host.lower(), ()), now)
                       for rid, probes in fresh.items() for probe in probes))


def resolve_all(spawn: Callable[[Callable[[], Any]], Future[Any]]) -> Callable[[Iterable[tuple[str, str]]],
                                                                             dict[str, tuple[str, ...]]]:
    """A resolver looking the hosts up concurrently on the probe pool (`spawn`)."""
    def run(hosts: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
        futures = {host: spawn(lambda host=host, url=url: addresses(host, url)) for host, url in hosts}
        return {host: f.result() for host, f in futures.items()}
    return run
