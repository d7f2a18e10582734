"""run_sweep: discover → collect → diagnose → (remediate → notify) → Report.

Every trigger (timer, HTTP, CLI) calls `run_sweep`. Only collect touches Azure here; diagnose is
the pure `watchdog.checks.diagnose`. Azure calls run on one bounded thread pool
(WATCHDOG_CONCURRENCY); event-handler probes, which go to customer hosts outside the
subscription's budget, on their own (WATCHDOG_PROBE_CONCURRENCY), so a slow handler never holds
up an Azure call. The main thread only submits work and waits, so no pool thread ever waits on
another (a bounded pool cannot deadlock that way). A failed call becomes an
ObservationError and the sweep goes on.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from watchdog.azure import ARM_READ, PROBE, AzureClients
from watchdog.checks import diagnose
from watchdog.collect import autoscale, cache, diagnostics, handlers, inventory, keys, logs, metrics, proofs, secrets
from watchdog.collect.errors import DEFERRED, to_error
from watchdog.ledger.base import CacheEntry, KeyRecord, Ledger
from watchdog.ledger.codec import from_iso
from watchdog.models import (
    BoundSecret, Diagnostics, EventHandler, Finding, HandlerLogError, HandlerProbe, KeyFingerprints, Observation,
    ObservationError, Outcome, Report, Resource, ResourceMetrics, Sensitive,
)
from watchdog.remediate import remediate
from watchdog.scope import Scope
from watchdog.settings import Settings

log = logging.getLogger("watchdog.sweep")
T = TypeVar("T")
LOG_QUERY_CONCURRENCY = 5  # Log Analytics allows 5 concurrent queries per user
SKUS = inventory.SkuCache()  # allowed unit counts per SKU name: the same for the whole process
RESOURCES = cache.ResourceCache()  # hubs and diagnostics between sweeps without a ledger (collect/cache.py)
# Cold hubs and diagnostics reads get at most this share of the time left before the sweep
# deadline: the secret reads, proofs, probes, log queries and listKeys that follow need the rest
# (about 140 s at 5,000 resources with warm caches).
COLD_READ_SHARE = 0.5
# ARM reads the first wave makes besides hubs and diagnostics (SKU lists, autoscale pages).
OTHER_READS = 10


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
    from .notify import notify

    return notify(ctx.report, ctx.ledger, ctx.settings.notify, ctx.now)


# -- plumbing ----------------------------------------------------------------------------------


@dataclass
class _Errors:
    """Errors collected from pool threads: per resource (lower-case id) and sweep-wide."""

    by_resource: dict[str, list[ObservationError]] = field(default_factory=dict)
    general: list[ObservationError] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, error: ObservationError) -> None:
        with self.lock:
            if error.resource_id:
                found = self.by_resource.setdefault(error.resource_id.lower(), [])
                if error not in found:
                    found.append(error)
            else:
                self.general.append(error)

    def of(self, resource_id: str) -> tuple[ObservationError, ...]:
        return tuple(self.by_resource.get(resource_id.lower(), ()))


class _Runner:
    """Submits calls to the bounded pool; each failure becomes an ObservationError."""

    def __init__(self, pool: ThreadPoolExecutor, errors: _Errors) -> None:
        self.pool = pool
        self.errors = errors

    def submit(self, fn: Callable[[], T], source: str, *, resource_id: str | None = None,
               subject: str | None = None, action: str | None = None) -> Future[T | None]:
        def call() -> T | None:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the sweep
                log.warning("%s call failed for %s: %s", source, resource_id or subject or "-", type(exc).__name__)
                self.errors.add(to_error(exc, source, resource_id=resource_id, subject=subject, action=action))
                return None

        return self.pool.submit(call)


def _results(futures: Mapping[str, Future[T | None]]) -> dict[str, T]:
    return {key: value for key, f in futures.items() if (value := f.result()) is not None}


@contextmanager
def _stage(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - started, 3)


def _delta(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


# -- the sweep ---------------------------------------------------------------------------------


@dataclass
class Observed:
    """What discover and collect saw: one Observation per resource, and sweep-wide errors
    (a subscription, vault or workspace that could not be read)."""

    observations: list[Observation]
    errors: list[ObservationError]


def observe(settings: Settings, scope: Scope | None = None, *, clients: AzureClients,
            ledger: Ledger | None = None, now: datetime | None = None,
            timings: dict[str, float] | None = None) -> Observed:
    """Discover and collect, on a bounded pool. Stage durations go into `timings`."""
    scope = scope or Scope()
    now = now or datetime.now(timezone.utc)
    timings = timings if timings is not None else {}
    subscriptions = tuple(s.lower() for s in scope.subscriptions_of(settings.subscriptions))
    errors = _Errors()
    with ExitStack() as stack:
        # Customer hosts get their own connection pool (closed last, after both thread pools).
        probe_session = stack.enter_context(handlers.new_session(settings.probe_per_host))
        pool = stack.enter_context(ThreadPoolExecutor(settings.concurrency, thread_name_prefix="watchdog"))
        probe_pool = stack.enter_context(ThreadPoolExecutor(settings.probe_concurrency,
                                                            thread_name_prefix="watchdog-probe"))
        runner = _Runner(pool, errors)
        with _stage(timings, "discover"):
            resources = _discover(runner, clients, subscriptions, scope)
        with _stage(timings, "collect"):
            probing = _Probing(_Runner(probe_pool, errors), probe_session)
            observations = _collect(runner, probing, clients, settings, resources, ledger, errors, now)
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
) -> Report:
    """One sweep. `scope` narrows subscriptions and resources (ids or names); `mode` maps action
    kind to off/plan/on (default: all off); `clients` lets a caller reuse clients (and their
    call counter) across sweeps; `ledger` holds key records, cooldowns and notification state;
    `notify` lets the notification stage send (the timer and `check --notify` do)."""
    scope = scope or Scope()
    now = now or datetime.now(timezone.utc)
    mode = dict(mode) if mode is not None else {kind: "off" for kind in settings.modes()}
    own_clients = clients is None
    clients = clients or AzureClients(settings)
    calls_before, throttled_before = clients.counter.calls(), clients.counter.throttled()
    report = Report(started_at=now, subscriptions=tuple(s.lower() for s in scope.subscriptions_of(settings.subscriptions)),
                    mode=mode)
    started = time.perf_counter()
    # ARM reads that cannot be made by the deadline are deferred (see _defer_cold_reads); the
    # remediation stage after it may still act.
    clients.deadline = clients.limiter.now() + settings.sweep_deadline_seconds
    try:
        try:
            observed = observe(settings, scope, clients=clients, ledger=ledger, now=now, timings=report.timings)
        finally:
            clients.deadline = None
        observations = observed.observations
        with _stage(report.timings, "diagnose"):
            findings = diagnose(observations, observed.errors, settings, now)
        report.resources = [o.resource for o in observations]
        report.findings = findings
        report.errors = [*observed.errors, *(e for o in observations for e in o.errors)]
        ctx = SweepContext(settings, mode, clients, ledger, notify, now, observations, findings, report)
        with _stage(report.timings, "remediate"):
            report.outcomes = remediation_stage(ctx)
        with _stage(report.timings, "notify"):
            report.notifications = list(notification_stage(ctx))
    finally:
        report.timings["total"] = round(time.perf_counter() - started, 3)
        report.api_calls = _delta(clients.counter.calls(), calls_before)
        report.throttled = _delta(clients.counter.throttled(), throttled_before)
        if own_clients:
            clients.close()
    report.finished_at = datetime.now(timezone.utc)
    return report


def _discover(runner: _Runner, clients: AzureClients, subscriptions: Sequence[str], scope: Scope) -> list[Resource]:
    futures = {sub: runner.submit(lambda sub=sub: inventory.list_resources(clients.webpubsub(sub), sub),
                                  "inventory", subject=f"/subscriptions/{sub}", action=inventory.READ_ACTION)
               for sub in subscriptions}
    found = [r for listed in _results(futures).values() for r in listed]
    return sorted((r for r in found if scope.includes(r.id, r.name)), key=lambda r: r.id.lower())


@dataclass
class _Collected:
    """What the collect stage has learnt so far, keyed by lower-case resource id."""

    handlers: dict[str, list[tuple[EventHandler, Sensitive]]] = field(default_factory=dict)
    diagnostics: dict[str, Diagnostics] = field(default_factory=dict)
    autoscale: dict[str, tuple[str, ...]] = field(default_factory=dict)
    autoscale_known: set[str] = field(default_factory=set)
    metrics: dict[str, ResourceMetrics] = field(default_factory=dict)
    secrets: dict[str, list[BoundSecret]] = field(default_factory=dict)
    probes: dict[str, list[HandlerProbe]] = field(default_factory=dict)
    log_errors: dict[str, tuple[HandlerLogError, ...]] = field(default_factory=dict)
    keys: dict[str, KeyFingerprints] = field(default_factory=dict)


@dataclass(frozen=True)
class _Probing:
    """Where event-handler probes run: their own pool and connection pool."""

    runner: _Runner
    session: Any  # requests.Session


def _collect(runner: _Runner, probing: _Probing, clients: AzureClients, settings: Settings,
             resources: list[Resource], ledger: Ledger | None, errors: _Errors, now: datetime) -> list[Observation]:
    got = _Collected()
    by_id = {r.id.lower(): r for r in resources}

    # Wave 1: everything that needs only the inventory, all at once.
    skus = _submit_skus(runner, clients, resources)
    resource_cache = cache.ResourceCache(ledger) if ledger is not None else RESOURCES
    _refresh_cache(runner, clients, resource_cache, ledger, resources, now)
    cached = resource_cache.load(by_id, now)
    need_hubs = {rid: r for rid, r in by_id.items() if rid not in cached or cached[rid].handlers is None}
    need_diags = {rid: r for rid, r in by_id.items() if rid not in cached}
    need_hubs, need_diags = _defer_cold_reads(clients, need_hubs, need_diags, errors)
    hubs = {rid: runner.submit(lambda r=r: inventory.list_handlers(clients.webpubsub(r.subscription_id), r),
                               "hubs", resource_id=r.id, action=inventory.HUBS_ACTION) for rid, r in need_hubs.items()}
    diags = {rid: runner.submit(lambda r=r: diagnostics.read(clients.diagnostic_settings, r.id), "diagnostics",
                                resource_id=r.id, action=diagnostics.ACTION) for rid, r in need_diags.items()}
    scales = {sub: runner.submit(lambda sub=sub: autoscale.list_in_subscription(clients.monitor(sub)), "autoscale",
                                 subject=f"/subscriptions/{sub}", action=autoscale.ACTION)
              for sub in sorted({r.subscription_id for r in resources})}
    metric_calls = _submit_metrics(runner, clients, settings, resources, now)
    bindings, vault_calls, vault_lists = _submit_bindings(runner, clients, settings, resources, ledger, errors)

    for future in skus:
        future.result()
    got.handlers = {rid: e.handlers for rid, e in cached.items() if e.handlers is not None} | _results(hubs)
    # Probes need only the handlers: started now, they overlap the rest of the collect stage.
    probes = _submit_probes(probing, clients, settings, by_id, got.handlers)
    got.diagnostics = {rid: e.diagnostics for rid, e in cached.items()} | _results(diags)
    # Only entries read whole this sweep: one whose hubs alone were re-read (templates the ledger
    # may not keep) is already stored as it can be.
    resource_cache.put({rid: cache.Entry(got.handlers[rid], got.diagnostics[rid], now) for rid in need_diags
                        if rid in got.handlers and rid in got.diagnostics})
    for sub, future in scales.items():
        targets = future.result()
        if targets is not None:
            got.autoscale.update(targets)
            got.autoscale_known.update(rid for rid, r in by_id.items() if r.subscription_id == sub)
    got.metrics = _fold_metrics(metric_calls, settings.window_minutes, errors)
    listed: dict[str, proofs.Listed] = {}
    for future in vault_calls.values():
        if (found := future.result()) is not None:
            bindings.extend(found[0])
            listed.update(found[1])
    for future in vault_lists:
        listed.update(future.result() or {})

    # Wave 2: what needs wave 1 (workspaces to query, secrets to read); probes are under way.
    log_calls, log_members = _submit_logs(runner, clients, settings, got, now)
    secret_calls, fresh = _submit_secrets(runner, clients, settings, by_id, bindings, ledger, listed, now)
    for rid, futures in probes.items():
        got.probes[rid] = [p for f in futures if (p := f.result()) is not None]
    for rid, calls in secret_calls.items():
        got.secrets[rid] = [s for _, f in calls if (s := f.result()) is not None]
    if ledger is not None:
        _keep_proofs(ledger, by_id, secret_calls, fresh, listed, now)
    for workspace, future in log_calls.items():
        rows = future.result()
        if rows is not None:
            members = {rid: [h for h, _ in got.handlers.get(rid, ())] for rid in log_members[workspace]}
            got.log_errors.update(logs.group_rows(rows, members))

    # Wave 3: keys, only where the bound secrets say they are needed (listKeys spends ARM writes).
    _collect_keys(runner, clients, settings, by_id, got, ledger, errors, now)

    return [_observation(r, got, errors, now) for r in resources]


def _defer_cold_reads(clients: AzureClients, need_hubs: dict[str, Resource], need_diags: dict[str, Resource],
                      errors: _Errors) -> tuple[dict[str, Resource], dict[str, Resource]]:
    """The hubs and diagnostic-settings reads the rate limiter lets through before the sweep
    deadline (COLD_READ_SHARE of the time left); the others are deferred to the next sweeps, each
    with a `deferred` error, so the ledger's cache of a big subscription fills over several sweeps
    instead of running the first one past the function timeout."""
    if clients.deadline is None:
        return need_hubs, need_diags
    seconds = (clients.deadline - clients.limiter.now()) * COLD_READ_SHARE
    budget = {sub: clients.limiter.affordable(sub, ARM_READ, seconds) - OTHER_READS
              for sub in {r.subscription_id.lower() for r in [*need_hubs.values(), *need_diags.values()]}}
    hubs: dict[str, Resource] = {}
    diags: dict[str, Resource] = {}
    # Hubs alone first (warm resources whose templates the ledger may not keep: read every sweep),
    # then cold resources in id order, so each sweep goes on where the last one stopped.
    for rid in sorted(need_hubs.keys() | need_diags.keys(), key=lambda rid: (rid in need_diags, rid)):
        resource = need_hubs.get(rid) or need_diags[rid]
        sub = resource.subscription_id.lower()
        cost = (rid in need_hubs) + (rid in need_diags)
        if budget[sub] >= cost:
            budget[sub] -= cost
            if rid in need_hubs:
                hubs[rid] = resource
            if rid in need_diags:
                diags[rid] = resource
            continue
        for source, needed in (("hubs", need_hubs), ("diagnostics", need_diags)):
            if rid in needed:
                errors.add(ObservationError(
                    source, DEFERRED, "deferred to a later sweep: ARM's read budget until the sweep deadline "
                    "(WATCHDOG_SWEEP_DEADLINE_SECONDS) went to other resources", resource_id=resource.id))
    return hubs, diags


def _refresh_cache(runner: _Runner, clients: AzureClients, resource_cache: cache.ResourceCache,
                   ledger: Ledger | None, resources: list[Resource], now: datetime) -> None:
    """Drop cached hubs/diagnostics, and the ledger's secret proofs, of resources the activity log
    shows changed (a write, a regenerateKey) since the last check by any process (one read per
    subscription with a record to keep up to date)."""
    subs = sorted({r.subscription_id for r in resources})
    since = {sub: checked for sub in subs if (checked := resource_cache.last_checked(sub)) is not None}
    calls = {sub: runner.submit(lambda sub=sub: cache.changed_resources(clients.monitor(sub), sub,
                                                                        since[sub] - cache.OVERLAP, now),
                                "activity-log", subject=f"/subscriptions/{sub}", action=cache.ACTION)
             for sub in since}
    for sub in subs:
        changed = calls[sub].result() if sub in calls else None
        if changed is None:  # no record yet, or the log could not be read: nothing cached is trusted
            resource_cache.restart(sub, now)
        else:
            if ledger is not None:  # before the mark moves past the events (as apply_changes does)
                proofs.drop_changed(ledger, changed, cache.CLOCK_MARGIN)
            resource_cache.apply_changes(sub, changed, now)


def _submit_skus(runner: _Runner, clients: AzureClients, resources: list[Resource]) -> list[Future[Any]]:
    first_of_sku: dict[str, Resource] = {}
    for r in resources:
        if SKUS.get(r.sku_name) is None:
            first_of_sku.setdefault(r.sku_name.lower(), r)
    return [runner.submit(lambda r=r: SKUS.load(clients.webpubsub(r.subscription_id), r), "skus",
                          resource_id=r.id, action=inventory.SKU_ACTION) for r in first_of_sku.values()]


@dataclass
class _MetricsFold:
    """Series folded as each batch call returns, so the SDK's result objects (one per resource,
    metric and minute) are freed call by call instead of all held until the stage ends."""

    acc: dict[str, Any] = field(default_factory=dict)  # lower-case id -> metrics._Accumulator
    stamps: dict[datetime, datetime] = field(default_factory=dict)  # shared timestamps
    lock: threading.Lock = field(default_factory=threading.Lock)


def _submit_metrics(runner: _Runner, clients: AzureClients, settings: Settings, resources: list[Resource],
                    now: datetime) -> tuple[_MetricsFold, list[tuple[metrics.Batch, Future[Any]]]]:
    folded = _MetricsFold()
    calls = []
    for batch in metrics.plan_batches(resources):
        for metric_set in metrics.METRIC_SETS:
            def call(batch: metrics.Batch = batch, metric_set: metrics.MetricSet = metric_set) -> Exception | None:
                try:
                    results = metrics.query_set(clients.metrics(batch.region), batch, metric_set,
                                                settings.window_minutes, now)
                except Exception as exc:  # noqa: BLE001 - reported per resource of the batch below
                    return exc
                with folded.lock:
                    metrics.fold(results, metric_set, [r.id for r in batch.resources], folded.acc, folded.stamps)
                return None
            calls.append((batch, runner.pool.submit(call)))
    return folded, calls


def _fold_metrics(submitted: tuple[_MetricsFold, list[tuple[metrics.Batch, Future[Any]]]], window_minutes: int,
                  errors: _Errors) -> dict[str, ResourceMetrics]:
    folded, calls = submitted
    failed: dict[str, int] = {}
    for batch, future in calls:
        outcome = future.result()
        if isinstance(outcome, Exception):
            for r in batch.resources:
                failed[r.id.lower()] = failed.get(r.id.lower(), 0) + 1
                errors.add(to_error(outcome, "metrics", resource_id=r.id, action=metrics.ACTION))
    out: dict[str, ResourceMetrics] = {}
    for batch, _ in calls:
        for r in batch.resources:
            rid = r.id.lower()
            # Nothing read at all: unknown (None), not "no data points".
            if failed.get(rid, 0) < len(metrics.METRIC_SETS):
                out[rid] = metrics.to_metrics(folded.acc.get(rid), window_minutes)
    return out


def _submit_bindings(runner: _Runner, clients: AzureClients, settings: Settings, resources: list[Resource],
                     ledger: Ledger | None, errors: _Errors,
                     ) -> tuple[list[secrets.Binding], dict[str, Future[Any]], list[Future[Any]]]:
    """Bindings from resource tags, the list calls of WATCHDOG_KEY_VAULTS (bindings and each
    secret's attributes) and, with a ledger to keep proofs in, one list of each other vault the
    tags name, for its attributes alone."""
    bindings, bad = secrets.from_resource_tags(resources)
    for resource_id, entry in bad:
        errors.add(ObservationError("secrets", "error", f"tag watchdog-secrets holds {entry[:80]!r}, "
                                    "not a secret URI (https://<vault>.vault.azure.net/secrets/<name>)",
                                    resource_id=resource_id))
    ids = {r.id.lower() for r in resources}
    vault_calls = {vault: runner.submit(lambda vault=vault: secrets.from_vault(clients.secrets(vault), vault, ids),
                                        "secrets", subject=vault, action=secrets.LIST_ACTION)
                   for vault in settings.key_vaults}
    if ledger is None:
        return bindings, vault_calls, []
    listed_vaults = {v.rstrip("/").lower() for v in settings.key_vaults}

    def listing(vault: str) -> dict[str, proofs.Listed] | None:
        # Not needed to find bindings: where it fails, its secrets are read each sweep as before.
        try:
            return secrets.from_vault(clients.secrets(vault), vault, set())[1]
        except Exception as exc:  # noqa: BLE001 - no list means no reuse, not a blind spot
            log.info("secrets of %s not listed (%s): each bound secret is read", vault, type(exc).__name__)
            return None

    tag_vaults = sorted({b.vault_url for b in bindings} - listed_vaults)
    return bindings, vault_calls, [runner.pool.submit(listing, vault) for vault in tag_vaults]


def _submit_secrets(runner: _Runner, clients: AzureClients, settings: Settings, by_id: dict[str, Resource],
                    bindings: list[secrets.Binding], ledger: Ledger | None, listed: Mapping[str, proofs.Listed],
                    now: datetime) -> tuple[dict[str, list[tuple[secrets.Binding, Future[Any]]]], set[str]]:
    """Per resource, (binding, future BoundSecret); and the proofs.key of the secrets read this
    sweep. With a ledger, a secret whose record nothing contradicts (proofs.why_read) is rebuilt
    from it instead of read and proven."""
    prove = secrets.proof_for(clients.dataplane)
    records: dict[str, CacheEntry] = {}
    started: dict[str, datetime | None] = {}
    if ledger is not None:
        records = ledger.cached_all(proofs.KIND)
        started = {sub: from_iso(m.payload["started"]) for sub, m in ledger.cached_all(cache.MARK_KIND).items()}
    interval = timedelta(minutes=settings.proof_interval_minutes)
    out: dict[str, list[tuple[secrets.Binding, Future[Any]]]] = {}
    fresh: set[str] = set()
    for b in dict.fromkeys(bindings):  # a secret bound both ways is read once
        resource = by_id.get(b.resource_id)
        if resource is None:
            continue
        k = proofs.key(b.uri, resource.id)
        if ledger is not None:
            record = records.get(k)
            why = proofs.why_read(record, listed.get(b.uri.lower()), resource,
                                  started.get(resource.subscription_id.lower()), now, interval)
            if why is None and record is not None:
                kept: Future[Any] = Future()
                kept.set_result(proofs.from_payload(record))
                out.setdefault(b.resource_id, []).append((b, kept))
                continue
            log.debug("reading %s: %s", b.uri, why)
        fresh.add(k)
        out.setdefault(b.resource_id, []).append((b, runner.submit(
            lambda b=b, r=resource: proofs.proved(secrets.read_bound(clients.secrets(b.vault_url), b, r, prove), now),
            "secrets", resource_id=resource.id, subject=b.uri, action=secrets.GET_ACTION)))
    return out, fresh


def _keep_proofs(ledger: Ledger, by_id: dict[str, Resource],
                 calls: Mapping[str, list[tuple[secrets.Binding, Future[Any]]]], fresh: set[str],
                 listed: Mapping[str, proofs.Listed], now: datetime) -> None:
    """Record the secrets read this sweep (one batched write); a secret that could not be read
    loses its record, so the next sweep reads it again rather than trusting an old proof."""
    kept = []
    for rid, pairs in calls.items():
        for b, future in pairs:
            k = proofs.key(b.uri, rid)
            if k not in fresh:
                continue
            if (secret := future.result()) is None:
                ledger.drop_cached(proofs.KIND, k)
            else:
                kept.append(proofs.to_entry(secret, by_id[rid], listed.get(b.uri.lower()), now))
    ledger.put_cached(*kept)


def _submit_probes(probing: _Probing, clients: AzureClients, settings: Settings, by_id: dict[str, Resource],
                   found: dict[str, list[tuple[EventHandler, Sensitive]]]) -> dict[str, list[Future[Any]]]:
    """At most WATCHDOG_PROBE_PER_HOST probes in flight per host."""
    gate = handlers.HostGate(settings.probe_per_host)

    def probe(handler: EventHandler, template: Sensitive, resource: Resource) -> HandlerProbe:
        with gate(handler.host):
            # Probes end by the sweep deadline, so collection never waits on them past it.
            budget = None if clients.deadline is None else clients.deadline - clients.limiter.now()
            clients.counter.add(PROBE)
            return handlers.probe(handler, template, resource.host_name, settings.probe_timeout_seconds,
                                  probing.session, budget)

    # Submitted host by host in turn, so the pool's threads spread over hosts instead of queueing
    # behind one host's gate.
    by_host: dict[str, list[tuple[str, EventHandler, Sensitive]]] = {}
    for rid, pairs in found.items():
        for h, t in pairs:
            by_host.setdefault(h.host.lower(), []).append((rid, h, t))
    out: dict[str, list[Future[Any]]] = {rid: [] for rid in found}
    for turn in itertools.zip_longest(*by_host.values()):
        for rid, h, t in filter(None, turn):
            out[rid].append(probing.runner.submit(lambda h=h, t=t, r=by_id[rid]: probe(h, t, r), "handlers",
                                                  resource_id=by_id[rid].id, subject=h.url_redacted))
    return out


def _submit_logs(runner: _Runner, clients: AzureClients, settings: Settings, got: _Collected,
                 now: datetime) -> tuple[dict[str, Future[Any]], dict[str, list[str]]]:
    members = logs.assign_workspaces({rid: d.workspace_ids for rid, d in got.diagnostics.items()})
    gate = threading.BoundedSemaphore(LOG_QUERY_CONCURRENCY)

    def query(workspace: str) -> list[tuple[datetime | None, str, str]]:
        with gate:
            rows, partial = logs.query_workspace(clients.logs(), workspace, settings.window_minutes, now)
        if partial:
            runner.errors.add(ObservationError("logs", "error", f"partial result: {partial}", subject=workspace))
        return rows

    calls = {ws: runner.submit(lambda ws=ws: query(ws), "logs", subject=ws, action=logs.ACTION) for ws in members}
    return calls, members


def _collect_keys(runner: _Runner, clients: AzureClients, settings: Settings, by_id: dict[str, Resource],
                  got: _Collected, ledger: Ledger | None, errors: _Errors, now: datetime) -> None:
    """listKeys where the bound secrets need it, at most WATCHDOG_MAX_LIST_KEYS per sweep, most
    urgent reason first: each call spends one of the subscription's ARM write tokens, which every
    deployment in the subscription shares."""
    wanted: list[tuple[keys.Reason, str, KeyRecord | None]] = []
    for rid, bound in got.secrets.items():
        resource = by_id[rid]
        record = ledger.key_fingerprints(resource.id) if ledger is not None else None
        reason = keys.why_list(resource, bound, record, now)
        if reason is None:
            if record is not None and bound and not resource.disable_local_auth:
                got.keys[rid] = keys.from_record(record)
            continue
        wanted.append((reason, rid, record))
    wanted.sort(key=lambda w: (w[0].rank, w[1]))
    calls = {}
    for reason, rid, record in wanted[settings.max_list_keys:]:
        if reason is keys.RECONCILE and record is not None:
            # Nothing says the keys changed: the record stands in, as on any sweep between two
            # reconciliations, and the proof still catches a regeneration.
            got.keys[rid] = keys.from_record(record)
            continue
        # Keys stay unknown: key-drift judges the secret by its data-plane proof alone.
        errors.add(ObservationError("keys", DEFERRED, f"keys not listed this sweep: budget "
                                    f"(WATCHDOG_MAX_LIST_KEYS={settings.max_list_keys}); {reason.text}",
                                    resource_id=by_id[rid].id))
    for reason, rid, _ in wanted[:settings.max_list_keys]:
        resource = by_id[rid]
        log.info("listing keys of %s: %s", resource.name, reason.text)
        calls[rid] = runner.submit(lambda r=resource: keys.list_keys(clients.webpubsub(r.subscription_id), r, now),
                                   "keys", resource_id=resource.id, action=keys.ACTION)
    for rid, listed in _results(calls).items():
        got.keys[rid] = listed
        if ledger is not None:
            ledger.put_key_fingerprints(keys.to_record(by_id[rid].id, listed))


def _observation(r: Resource, got: _Collected, errors: _Errors, now: datetime) -> Observation:
    rid = r.id.lower()
    return Observation(
        resource=r,
        allowed_capacities=SKUS.get(r.sku_name) or (),
        keys=got.keys.get(rid),
        secrets=tuple(got.secrets.get(rid, ())),
        metrics=got.metrics.get(rid),
        diagnostics=got.diagnostics.get(rid),
        autoscale=got.autoscale.get(rid, ()) if rid in got.autoscale_known else None,
        handlers=tuple(h for h, _ in got.handlers.get(rid, ())),
        probes=tuple(got.probes.get(rid, ())),
        log_errors=got.log_errors.get(rid),
        errors=errors.of(r.id),
        collected_at=now,
    )


__all__ = ["Observed", "SweepContext", "notification_stage", "observe", "remediation_stage", "run_sweep"]
