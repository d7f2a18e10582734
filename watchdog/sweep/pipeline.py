"""run_sweep: discover → collect → diagnose → (remediate → notify) → Report.

Every trigger (timer, HTTP, CLI) calls `run_sweep`. Only collect touches Azure here (on the
runner's pools, watchdog/sweep/runner.py, in the waves of watchdog/sweep/schedule.py); diagnose
is the pure `watchdog.checks.diagnose`.
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from watchdog.azure import AzureClients
from watchdog.checks import diagnose
from watchdog.collect import inventory
from watchdog.collect.caches import Caches
from watchdog.ledger.base import Ledger
from watchdog.models import Finding, Observation, ObservationError, Outcome, Report
from watchdog.remediate import remediate
from watchdog.scope import Scope
from watchdog.settings import Settings
from watchdog.sweep.schedule import collect
from watchdog.sweep.runner import Errors, delta, pools, stage

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


def remediation_stage(ctx: SweepContext) -> list[Outcome]:
    """Plan → re-check → act → verify → record per action, honouring ctx.mode (watchdog/remediate)."""
    return remediate(ctx.observations, ctx.findings, ctx.settings, ctx.mode, ctx.clients, ctx.ledger, ctx.now)


def notification_stage(ctx: SweepContext) -> list[Mapping[str, Any]]:
    """Send what the lifecycle says is due (after remediation, so a message can say what was
    fixed); returns the per-target delivery summaries for Report.notifications."""
    if not ctx.notify:
        return []
    if ctx.ledger is None:
        raise ValueError("notifications need a ledger to remember what was sent; pass ledger=")
    from watchdog.notify import notify

    return notify(ctx.report, ctx.ledger, ctx.settings.notify, ctx.now, status_url=ctx.settings.status_url)


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
    now = now or datetime.now(timezone.utc)
    timings = timings if timings is not None else {}
    caches = caches if caches is not None else Caches()
    subscriptions = tuple(s.lower() for s in scope.subscriptions_of(settings.subscriptions))
    errors = Errors()
    with pools(settings, errors) as running:
        with stage(timings, "discover"):
            resources = inventory.discover(running.azure, clients, subscriptions, scope)
        with stage(timings, "collect"):
            observations = collect(running, clients, settings, resources, ledger, caches, now)
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
) -> Report:
    """One sweep. `scope` narrows subscriptions and resources (ids or names); `mode` maps action
    kind to off/plan/on (default: all off); `clients` lets a caller reuse clients (and their
    call counter) across sweeps; `ledger` holds key records, cooldowns and notification state;
    `notify` lets the notification stage send (the timer and `check --notify` do); `caches` is
    what the process keeps between sweeps (a long-lived process passes the same one each time)."""
    scope = scope or Scope()
    now = now or datetime.now(timezone.utc)
    mode = dict(mode) if mode is not None else {kind: "off" for kind in settings.modes()}
    with ExitStack() as stack:
        if clients is None:
            clients = stack.enter_context(AzureClients(settings))
        report = _sweep(settings, scope, mode, clients, ledger, notify, now, caches)
    report.finished_at = datetime.now(timezone.utc)
    return report


def _sweep(settings: Settings, scope: Scope, mode: dict[str, str], clients: AzureClients, ledger: Ledger | None,
           notify: bool, now: datetime, caches: Caches | None) -> Report:
    calls_before, throttled_before = clients.counter.calls(), clients.counter.throttled()
    subscriptions = tuple(s.lower() for s in scope.subscriptions_of(settings.subscriptions))
    report = Report(started_at=now, subscriptions=subscriptions, mode=mode)
    started = time.perf_counter()
    # ARM reads that cannot be made by the deadline are deferred (watchdog/sweep/budget.py); the
    # remediation stage after it may still act.
    clients.deadline = clients.limiter.now() + settings.sweep_deadline_seconds
    try:
        try:
            observed = observe(settings, scope, clients=clients, ledger=ledger, now=now, timings=report.timings,
                               caches=caches)
        finally:
            clients.deadline = None
        observations = observed.observations
        with stage(report.timings, "diagnose"):
            findings = diagnose(observations, observed.errors, settings, now)
        report.resources = [o.resource for o in observations]
        report.observations = list(observations)
        report.findings = findings
        report.errors = [*observed.errors, *(e for o in observations for e in o.errors)]
        ctx = SweepContext(settings, mode, clients, ledger, notify, now, observations, findings, report)
        with stage(report.timings, "remediate"):
            report.outcomes = remediation_stage(ctx)
        with stage(report.timings, "notify"):
            report.notifications = list(notification_stage(ctx))
    finally:
        report.timings["total"] = round(time.perf_counter() - started, 3)
        report.api_calls = delta(clients.counter.calls(), calls_before)
        report.throttled = delta(clients.counter.throttled(), throttled_before)
    return report
