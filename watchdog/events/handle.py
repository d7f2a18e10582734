"""One delivered event -> at most one scoped sweep, on the timer's rules, remediation modes,
guards, ledger and notification lifecycle (`run_sweep`, then `notify` on its resources)."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from watchdog import clock as wall_clock, tags
from watchdog.azure import AzureClients
from watchdog.collect.inventory import list_resources
from watchdog.collect.secrets import parse_uri
from watchdog.events import gate
from watchdog.events.parse import SECRET, Change, Ignored, parse
from watchdog.ledger.base import Ledger
from watchdog.models import Report
from watchdog.scope import Scope
from watchdog.settings import Settings

LEASE_SECONDS = 300  # longer than a scoped sweep; a crashed holder frees it after this

CHECKED, IGNORED, DUPLICATE, COVERED, OWN, UNBOUND = "checked", "ignored", "duplicate", "covered", "own", "unbound"


class Busy(RuntimeError):
    """Another delivery is checking the same target now: fail, so Event Grid retries later (the
    check running now may have started before this change happened)."""


@dataclass(frozen=True)
class Handled:
    decision: str  # CHECKED, IGNORED, DUPLICATE, COVERED, OWN, UNBOUND
    reason: str
    change: Change | None = None
    report: Report | None = None


def vaults_of(settings: Settings) -> dict[str, str]:
    """Watched vault name (lower case) -> vault URL."""
    return {(urlsplit(url).hostname or "").split(".", 1)[0].lower(): url for url in settings.key_vaults}


def handle(doc: Mapping[str, Any], settings: Settings, ledger: Ledger, *, clients: AzureClients | None = None,
           caches: Any = None, now: Callable[[], datetime] | None = None, sweep: Callable[..., Report] | None = None
           ) -> Handled:
    """`now`: the clock (default UTC wall time); `sweep`: run_sweep (a parameter for unit tests)."""
    clock = now or wall_clock.now
    parsed = parse(doc, tuple(s.lower() for s in settings.subscriptions), vaults_of(settings), clock())
    if isinstance(parsed, Ignored):
        return Handled(IGNORED, parsed.reason)
    change = parsed
    if gate.seen(ledger, change.event_id):
        return Handled(DUPLICATE, f"event {change.event_id} was handled before", change)
    if (started := gate.covered(ledger, change)) is not None:
        gate.mark_seen(ledger, change.event_id, change.target, COVERED, clock())
        return Handled(COVERED, f"a check of {change.target} started at {started.isoformat()}, after this change",
                       change)
    if (entry := gate.own_action(ledger, change)) is not None:
        gate.mark_seen(ledger, change.event_id, change.target, OWN, clock())
        return Handled(OWN, f"the watchdog's own {entry.kind} (audit entry {entry.id})", change)
    owner, key = change.event_id, gate.lease_key(change.target)
    if not ledger.acquire_lease(key, owner, LEASE_SECONDS, clock()):
        raise Busy(f"a check of {change.target} is running; Event Grid will deliver this event again")
    try:
        return _check(change, settings, ledger, clients, caches, clock, sweep)
    finally:
        ledger.release_lease(key, owner)


def _check(change: Change, settings: Settings, ledger: Ledger, clients: AzureClients | None, caches: Any,
           clock: Callable[[], datetime], sweep: Callable[..., Report] | None) -> Handled:
    from watchdog.sweep import run_sweep

    started = clock()
    with AzureClients(settings) if clients is None else nullcontext(clients) as azure:  # a caller's: not closed
        resources = (change.target,) if change.kind != SECRET else bound_resources(azure, settings, change)
        if not resources:
            gate.mark_seen(ledger, change.event_id, change.target, UNBOUND, started)
            return Handled(UNBOUND, f"no watched Web PubSub resource is bound to {change.target}", change)
        targets = (change.target, *resources)
        # Recorded before the sweep: deliveries arriving while it runs, for changes made before
        # it started, are covered by it.
        gate.mark_checked(ledger, targets, started)
        try:
            report = (sweep or run_sweep)(settings, Scope(resources=resources), settings.modes(), clients=azure,
                                          ledger=ledger, notify=False, caches=caches)
            _notify(report, ledger, settings)
        except BaseException:
            gate.unmark_checked(ledger, targets)  # not checked after all: a redelivery must check
            raise
    gate.mark_seen(ledger, change.event_id, change.target, CHECKED, clock())
    return Handled(CHECKED, f"{change.event_type} for {change.target}: swept {len(resources)} resource(s)", change,
                   report)


def _notify(report: Report, ledger: Ledger, settings: Settings) -> None:
    """The timer's notification lifecycle, on what this sweep looked at: its resources only. A
    scoped report still names its subscription, which would resolve subscription-wide findings
    it never judged (the timer's deferred totals) and make them flap."""
    from watchdog.notify import notify

    report.subscriptions = ()
    report.notifications = list(notify(report, ledger, settings.notify, report.started_at,
                                       status_url=settings.status_url))


def bound_resources(clients: AzureClients, settings: Settings, change: Change) -> tuple[str, ...]:
    """The watched resources a secret is bound to: by its webpubsub-resource-id tag (the version
    the event names, else the newest), and by any resource's watchdog-secrets tag."""
    vault_url = vaults_of(settings)[change.vault]
    found: dict[str, None] = {}
    versions = list(clients.secrets(vault_url).list_properties_of_secret_versions(change.secret))
    mine = [v for v in versions if v.version == change.version] or sorted(
        versions, key=lambda v: v.created_on or datetime.min.replace(tzinfo=timezone.utc))[-1:]
    for props in mine:
        bound = next((v for k, v in (props.tags or {}).items() if k.lower() == tags.RESOURCE_ID), "")
        if bound.strip():
            found[bound.strip().rstrip("/").lower()] = None
    for subscription in settings.subscriptions:
        for res in list_resources(clients.webpubsub(subscription), subscription):
            entries = next((v for k, v in res.tags.items() if k.lower() == tags.SECRETS), "")
            uris = {f"{v}/secrets/{n}".lower() for e in entries.split(",") if (p := parse_uri(e)) for v, n in (p,)}
            if change.target.lower() in uris:
                found[res.id.lower()] = None
    watched = {s.lower() for s in settings.subscriptions}
    return tuple(r for r in found if r.split("/")[2] in watched)
