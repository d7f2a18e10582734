"""run_sweep: discover → collect → diagnose → (remediate → notify) → Report.

Every trigger (timer, HTTP, CLI) calls `run_sweep`. Only collect touches Azure here (on the
runner's pools, watchdog/sweep/runner.py, in the waves of watchdog/sweep/schedule.py); diagnose
is the pure `watchdog.checks.diagnose`.
"""
from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Mapping

from watchdog import clock
from watchdog.azure import AzureClients
from watchdog.checks import diagnose, sort_key
from watchdog.checks.blind_spots import check_errors
from watchdog.collect import cache, lookup
from watchdog.collect.caches import Caches
from watchdog.ledger.base import Ledger
from watchdog.ledger.guard import Guarded
from watchdog.models import Finding, Observation, ObservationError, Outcome, Report
from watchdog.remediate import remediate
from watchdog.scope import Scope
from watchdog.settings import Settings
from watchdog.sweep import seen
from watchdog.sweep.schedule import collect
from watchdog.sweep.runner import Errors, delta, pools, stage
from watchdog.telemetry import Telemetry, active, current, finding_changes

# The sweep's budget (WATCHDOG_SWEEP_BUDGET_SECONDS) is shared in order: collection may use what
# notification and recording do not keep back; recording (the ledger writes after the last POST)
# always keeps its reserve.
NOTIFY_RESERVE = 10.0
NOTIFY_LEASE = "/watchdog/notifications"
PRUNE_PER_SWEEP = 500  # rows deleted at most per sweep (WATCHDOG_RETENTION_DAYS)  # the lease key of the one notification sender
RECORD_RESERVE = 3.0

# -- the hook for what follows diagnosis -------------------------------------------------------


@dataclass
class SweepContext:
    """What the stages after diagnosis get: the sweep's inputs, observations and findings."""

    settings: Settings
    mode: Mapping[str, str]  # action kind -> off/plan/on
    clients: AzureClients
    ledger: Ledger | None
    notify: bool
    now: datetime
    observations: list[Observation]
    findings: list[Finding]
    report: Report
    deadline: float | None = None  # time.monotonic() by which remediation and notification must end


def remediation_stage(ctx: SweepContext) -> list[Outcome]:
    """Plan → re-check → act → verify → record per action, honouring ctx.mode (watchdog/remediate)."""
    # A ledger that failed holds no lease and records nothing: nothing is acted on (planned only).
    ledger = ctx.ledger if ctx.ledger is not None and ctx.ledger.failure is None else None
    deadline = ctx.deadline - NOTIFY_RESERVE - RECORD_RESERVE if ctx.deadline is not None else None
    return remediate(ctx.observations, ctx.findings, ctx.settings, ctx.mode, ctx.clients, ledger, ctx.now,
                     deadline=deadline)


def notification_stage(ctx: SweepContext) -> list[Mapping[str, Any]]:
    """Send what the lifecycle says is due (after remediation, so a message can say what was
    fixed); returns the per-target delivery summaries for Report.notifications."""
    if not ctx.notify:
        return []
    if ctx.ledger is None:
        raise ValueError("notifications need a ledger to remember what was sent; pass ledger=")
    if ctx.ledger.failure is not None:
        return [{"target": "*", "status": "not-sent", "detail": "the ledger is unavailable: nothing is sent that "
                 "could not be recorded (it would be sent twice); the next sweep with a ledger sends it"}]
    from watchdog.notify import notify

    config = ctx.settings.notify
    if ctx.deadline is not None and config is not None:
        left = int(ctx.deadline - time.monotonic() - RECORD_RESERVE)
        config = replace(config, deadline_seconds=max(1, min(config.deadline_seconds, left)))
    ledger = ctx.ledger
    # One sender at a time per ledger (timer and `check --notify` may overlap): the lease is taken
    # now, for as long as sending and recording may take.
    owner = uuid.uuid4().hex
    ttl = int((config.deadline_seconds if config is not None else 60) + NOTIFY_RESERVE + RECORD_RESERVE)
    if not ledger.acquire_lease(NOTIFY_LEASE, owner, ttl, clock.now()):
        return [{"target": "*", "status": "not-sent", "detail": "another sweep is sending notifications now (it "
                 "holds the notification lease); what it does not send, the next sweep does"}]
    telemetry = active()
    try:
        before = ledger.finding_states() if telemetry.enabled else {}
        sent = notify(ctx.report, ledger, config, ctx.now, status_url=ctx.settings.status_url,
                      writable=lambda: ledger.failure is None)
        if telemetry.enabled:  # what the ledger now records differently: an event each
            for change in finding_changes(before, ledger.finding_states()):
                telemetry.finding_changed(change)
        return sent
    finally:
        ledger.release_lease(NOTIFY_LEASE, owner)


# -- the sweep ---------------------------------------------------------------------------------


@dataclass
class Observed:
    """What discover and collect saw: one Observation per resource, and sweep-wide errors
    (a subscription, vault or workspace that could not be read)."""

    observations: list[Observation]
    errors: list[ObservationError]


def observe(settings: Settings, scope: Scope | None = None, *, clients: AzureClients,
            ledger: Ledger | None = None, now: datetime | None = None,
            timings: dict[str, float] | None = None, caches: Caches | None = None) -> Observed:
    """Discover and collect, on bounded pools. Stage durations go into `timings`; `caches`: what
    this process keeps between sweeps (default: none kept)."""
    scope = scope or Scope()
    now = now or clock.now()
    timings = timings if timings is not None else {}
    caches = caches if caches is not None else Caches()
    subscriptions = tuple(s.lower() for s in scope.subscriptions_of(settings.subscriptions))
    errors = Errors()
    with pools(settings, errors) as running:
        with stage(timings, "discover"):
            # The activity log needs no inventory: read beside discovery (a check of resources by id
            # reads the subscriptions their ids name alone: Scope.subscriptions_of).
            changes = cache.read_changes(running.azure, clients, caches.resources_for(ledger), subscriptions, now)
            resources = lookup.discover(running.azure, clients, subscriptions, scope, ledger)
        with stage(timings, "collect"):
            observations = collect(running, clients, settings, resources, ledger, caches, now, changes)
    return Observed(observations, list(errors.general))


def run_sweep(
    settings: Settings,
    scope: Scope | None = None,
    mode: Mapping[str, str] | None = None,
    *,
    clients: AzureClients | None = None,
    ledger: Ledger | None = None,
    notify: bool = False,
    now: datetime | None = None,
    caches: Caches | None = None,
    telemetry: Telemetry | None = None,
) -> Report:
    """One sweep. `scope` narrows subscriptions and resources (ids or names); `mode` maps action
    kind to off/plan/on (default: all off); `clients` lets a caller reuse clients (and their
    call counter) across sweeps; `ledger` holds key records, cooldowns and notification state;
    `notify` lets the notification stage send (the timer and `check --notify` do); `caches` is
    what the process keeps between sweeps (a long-lived process passes the same one each time);
    `telemetry`: where spans, events and metrics go (default: the process's, watchdog/telemetry.py)."""
    scope = scope or Scope()
    now = now or clock.now()
    mode = dict(mode) if mode is not None else {kind: "off" for kind in settings.modes()}
    if ledger is not None and not isinstance(ledger, Guarded):
        ledger = Guarded(ledger)
    telemetry = telemetry if telemetry is not None else current()
    with telemetry.sweep():
        with ExitStack() as stack:
            if clients is None:
                clients = stack.enter_context(AzureClients(settings))
            report = _sweep(settings, scope, mode, clients, ledger, notify, now, caches)
        report.finished_at = clock.now()
        telemetry.record(report)
    return report


def _what_was_seen(report: Report, settings: Settings, scope: Scope, clients: AzureClients, ledger: Ledger | None,
                   notify: bool, observations: list[Observation], general: list[ObservationError]) -> None:
    """Coverage, the scopes read whole and the resources confirmed deleted, for the lifecycle."""
    report.coverage = seen.coverage(observations)
    report.read_scopes = seen.read_scopes(report.subscriptions, settings.key_vaults, observations, general)
    if ledger is not None and ledger.failure is None:
        report.read_scopes.add("ledger")  # a ledger blind spot resolves once the ledger works again
    if notify and ledger is not None:
        report.deleted = seen.confirm_deleted(clients, ledger, scope, set(report.coverage), report.read_scopes)


def _sweep(settings: Settings, scope: Scope, mode: dict[str, str], clients: AzureClients, ledger: Ledger | None,
           notify: bool, now: datetime, caches: Caches | None) -> Report:
    calls_before, throttled_before = clients.counter.calls(), clients.counter.throttled()
    subscriptions = tuple(s.lower() for s in scope.subscriptions_of(settings.subscriptions))
    report = Report(started_at=now, subscriptions=subscriptions, mode=mode, budget_seconds=settings.sweep_budget_seconds)
    started = time.perf_counter()
    deadline = time.monotonic() + settings.sweep_budget_seconds
    # ARM reads that cannot be made by the deadline are deferred (watchdog/sweep/budget.py); the
    # remediation stage after it may still act, within the sweep's budget.
    collect_for = min(settings.sweep_deadline_seconds, settings.sweep_budget_seconds - NOTIFY_RESERVE - RECORD_RESERVE)
    clients.deadline = clients.limiter.now() + max(1.0, collect_for)
    if ledger is not None:
        ledger.finding_states(open_only=True)  # a ledger that cannot be read is known before anything relies on it
    try:
        try:
            observed = observe(settings, scope, clients=clients, ledger=ledger, now=now, timings=report.timings,
                               caches=caches)
        finally:
            clients.deadline = None
        observations = seen.with_coverage(observed.observations, observed.errors)
        with stage(report.timings, "diagnose"):
            findings = diagnose(observations, observed.errors, settings, now)
        report.resources = [o.resource for o in observations]
        report.observations = list(observations)
        report.findings = findings
        report.errors = [*observed.errors, *(e for o in observations for e in o.errors)]
        _what_was_seen(report, settings, scope, clients, ledger, notify, observations, observed.errors)
        ctx = SweepContext(settings, mode, clients, ledger, notify, now, observations, findings, report, deadline)
        with stage(report.timings, "remediate"):
            report.outcomes = remediation_stage(ctx)
        with stage(report.timings, "notify"):
            report.notifications = list(notification_stage(ctx))
        if notify and ledger is not None:
            # Retention, bounded per sweep: history never grows what a sweep reads or stores.
            ledger.prune(now - timedelta(days=settings.retention_days), PRUNE_PER_SWEEP)
        if ledger is not None and ledger.failure is not None:
            report.errors.append(ledger.failure)
            report.findings = sorted([*report.findings, *check_errors([ledger.failure], now)], key=sort_key)
    finally:
        report.timings["total"] = round(time.perf_counter() - started, 3)
        report.api_calls = delta(clients.counter.calls(), calls_before)
        report.throttled = delta(clients.counter.throttled(), throttled_before)
    return report
