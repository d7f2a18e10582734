"""The collect stage in waves: each call starts as soon as what it needs is known.

Wave 1 needs only the inventory (SKUs, the activity log, cold hubs and diagnostics within ARM's
budget, autoscale lists, the log queries once the diagnostics name the workspaces, the vault lists,
metrics: the slowest first); probes start as soon as the handlers are known and overlap the rest; the
sites, metric alert and Premium replicas lists ask ARM's limiter once the planned cold reads are
done, so they never take one of their tokens. Wave 2 needs wave 1 (secrets to read, the replicas'
metrics). Wave 3 lists keys,
only where the bound secrets say they are needed (listKeys spends ARM writes); beside it, the
apps reading the bound secrets (one sites list per subscription, after the secrets are known).
"""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from watchdog.azure import AzureClients
from watchdog.collect import (
    alerts, autoscale, cache, consumers, diagnostics, handlers, inventory, key_age, keys, logs, metrics, probe_cache,
    replicas, secret_reads, sites,
)
from watchdog.collect import bindings as bindings_mod
from watchdog.collect.caches import Caches
from watchdog.collect.calls import Calls, done, results
from watchdog.consumers import Consumer
from watchdog.rotation import Observed as RotationObserved
from watchdog.ledger.base import Ledger
from watchdog.models import (
    BoundSecret, HandlerLogError, HandlerProbe, KeyFingerprints, Observation, ObservationError, ReplicaObservation,
    ResourceMetrics, Sensitive,
)
from watchdog.models_resource import Diagnostics, EventHandler, MetricAlertRule, Resource, WebSite
from watchdog.models_logs import LogSignals
from watchdog.settings import Settings
from watchdog.sweep.budget import read_budget, select_cold_reads, select_replica_reads
from watchdog.sweep.runner import Errors, Pools


@dataclass
class Collected:
    """What the collect stage has learnt, keyed by lower-case resource id."""

    handlers: dict[str, list[tuple[EventHandler, Sensitive]]] = field(default_factory=dict)
    hubs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # hub names, where known
    diagnostics: dict[str, Diagnostics] = field(default_factory=dict)
    autoscale: dict[str, tuple[str, ...]] = field(default_factory=dict)
    autoscale_known: set[str] = field(default_factory=set)
    alert_rules: dict[str, tuple[MetricAlertRule, ...]] = field(default_factory=dict)  # subscription -> rules
    sites: dict[str, tuple[WebSite, ...]] = field(default_factory=dict)  # subscription -> its apps
    replicas: dict[str, tuple[Resource, ...]] = field(default_factory=dict)  # Premium parent -> its replicas
    metrics: dict[str, ResourceMetrics] = field(default_factory=dict)
    secrets: dict[str, list[BoundSecret]] = field(default_factory=dict)
    probes: dict[str, list[HandlerProbe]] = field(default_factory=dict)
    log_errors: dict[str, tuple[HandlerLogError, ...]] = field(default_factory=dict)
    log_signals: dict[str, LogSignals] = field(default_factory=dict)
    keys: dict[str, KeyFingerprints] = field(default_factory=dict)
    consumers: dict[str, tuple[Consumer, ...] | None] = field(default_factory=dict)
    rotation: dict[str, RotationObserved] = field(default_factory=dict)


def collect(pools: Pools, clients: AzureClients, settings: Settings, resources: list[Resource],
            ledger: Ledger | None, caches: Caches, now: datetime, changes: cache.Reads) -> list[Observation]:
    """One Observation per resource, in the order given; every failed call is in its errors.
    `changes`: the activity-log reads started beside discovery (cache.read_changes)."""
    runner = pools.azure
    got = Collected()
    by_id = {r.id.lower(): r for r in resources}

    # Wave 1: everything that needs only the inventory, all at once.
    skus = caches.skus.submit(runner, clients, resources)
    resource_cache = caches.resources_for(ledger)
    cache.refresh(resource_cache, ledger, resources, changes, now)
    cached = resource_cache.load(by_id, now)
    need_hubs = {rid: r for rid, r in by_id.items() if rid not in cached or cached[rid].handlers is None}
    need_diags = {rid: r for rid, r in by_id.items() if rid not in cached}
    # Replicas: kept with the hubs in the resource cache; listed for Premium resources whose entry lacks them.
    need_replicas = [r for rid, r in by_id.items()
                     if replicas.premium(r) and (rid not in cached or cached[rid].replicas is None)]
    budget = read_budget(clients, [*need_hubs.values(), *need_diags.values(), *need_replicas])
    cold = select_cold_reads(need_hubs, need_diags, budget)
    replica_reads, replica_deferred = select_replica_reads(need_replicas, budget, cold)
    for error in [*cold.errors(), *replica_deferred]:
        runner.report(error)
    # Each resource's two reads queue side by side (ARM's limiter serves tokens in the order asked),
    # in the plan's order: should the deadline still cut the plan short, it cuts between resources.
    hubs: dict[str, Future] = {}
    diags: dict[str, Future] = {}
    for rid in [*cold.hubs, *(rid for rid in cold.diagnostics if rid not in cold.hubs)]:
        if rid in cold.hubs:
            r = cold.hubs[rid]
            hubs[rid] = runner.submit(lambda r=r: inventory.list_hubs(clients.webpubsub(r.subscription_id), r),
                                      "hubs", resource_id=r.id, action=inventory.HUBS_ACTION)
        if rid in cold.diagnostics:
            r = cold.diagnostics[rid]
            diags[rid] = runner.submit(lambda r=r: diagnostics.read(clients.diagnostic_settings, r.id),
                                       "diagnostics", resource_id=r.id, action=diagnostics.ACTION)
    scales = {sub: runner.submit(lambda sub=sub: autoscale.list_in_subscription(clients.monitor(sub)), "autoscale",
                                 subject=f"/subscriptions/{sub}", action=autoscale.ACTION)
              for sub in sorted({r.subscription_id for r in resources})}
    # The slowest calls first, once what they need is known: the log queries need the workspaces
    # (the diagnostics: cached in a steady sweep; after the cold reads, which ARM's limiter paces
    # anyway, in a first one), then the vault lists (the secrets wait on them), then the metrics.
    got.diagnostics = {rid: e.diagnostics for rid, e in cached.items()} | results(diags)
    querying = logs.submit(runner, clients, got.diagnostics, settings.window_minutes, settings.idle_timeouts, now)
    listing = secret_reads.submit_bindings(runner, clients, settings.key_vaults, resources, ledger)
    folding = metrics.submit(runner, clients, resources, settings.window_minutes, now)

    read_hubs = results(hubs)
    got.handlers = ({rid: e.handlers for rid, e in cached.items() if e.handlers is not None}
                    | {rid: found for rid, (_, found) in read_hubs.items()})
    got.hubs = ({rid: e.hubs for rid, e in cached.items() if e.hubs is not None}
                | {rid: names for rid, (names, _) in read_hubs.items()})
    # Probes need only the handlers: started now, they overlap the rest of the collect stage. Only
    # the handlers whose record may be out of date are probed (collect/probe_cache.py).
    probe_store = ledger if ledger is not None else caches.probes
    probing = probe_cache.plan(probe_store, got.handlers, set(need_diags), probe_cache.resolve_all(pools.probes.spawn),
                               now, timedelta(minutes=settings.probe_interval_minutes))
    probes = handlers.submit(pools.probes, pools.probe_session, clients, settings.probe_per_host,
                             settings.probe_timeout_seconds, by_id, probing.due)
    listing_sites = _submit_sites(runner, clients, caches, by_id, got.handlers, now)
    # The cold reads were planned to fit before the sweep deadline: the lists rules add (metric alerts,
    # replicas) ask ARM's limiter only now, so they never take a planned read's token and split a
    # resource into hubs read, diagnostics deferred.
    alerting = {sub: runner.submit(lambda sub=sub: alerts.list_in_subscription(clients.monitor(sub)), "alerts",
                                   subject=f"/subscriptions/{sub}", action=alerts.ACTION)
                for sub in sorted({r.subscription_id for r in resources})}
    replica_lists = {r.id.lower(): runner.submit(
        lambda r=r: replicas.list_replicas(clients.webpubsub(r.subscription_id), r), "replicas", resource_id=r.id,
        action=replicas.ACTION) for r in replica_reads}
    got.replicas = {rid: e.replicas for rid, e in cached.items() if e.replicas is not None} | results(replica_lists)
    # Only entries read whole this sweep: one whose hubs alone were re-read (templates the ledger
    # may not keep) is already stored as it can be.
    resource_cache.put({rid: cache.Entry(got.handlers[rid], got.diagnostics[rid], now, got.hubs.get(rid),
                                         got.replicas.get(rid))
                        for rid in need_diags if rid in got.handlers and rid in got.diagnostics})
    # A cached entry that lacked its replicas (stored before they were kept) gains them, keeping its age.
    resource_cache.put({rid: replace(cached[rid], replicas=got.replicas[rid]) for rid in replica_lists
                        if rid in cached and rid in got.replicas})
    bindings, listed = listing.result()

    # Wave 2: what needs wave 1 (secrets to read, replicas' metrics), submitted before waiting on the
    # rest of wave 1; probes and log queries are under way.
    reading = secret_reads.submit_reads(runner, clients, settings.proof_interval_minutes, by_id, bindings, ledger,
                                        listed, now)
    replica_folding = metrics.submit(runner, clients, [rep for reps in got.replicas.values() for rep in reps],
                                     settings.window_minutes, now)
    for sub, future in scales.items():
        targets = future.result()
        if targets is not None:
            got.autoscale.update(targets)
            got.autoscale_known.update(rid for rid, r in by_id.items() if r.subscription_id == sub)
    got.alert_rules = results(alerting)
    got.sites, fresh_sites = _collect_sites(caches, listing_sites, now)
    got.metrics = metrics.collect(runner, folding, settings.window_minutes)
    got.secrets = bindings_mod.annotate(secret_reads.collect(reading), bindings_mod.claims(bindings, listed))
    # The apps reading those secrets: overlaps the logs and the keys.
    # Consumers need today's apps (a new app reading a bound secret must be refreshed after sync):
    # they reuse a list made this sweep, never the 6-hour list cross-region keeps.
    apps = consumers.submit(runner, clients, by_id, got.secrets, caches.sites, now, fresh_sites)
    ages = key_age.submit(runner, clients, settings, by_id, got.secrets, ledger, now)  # only while rotation is on
    if ledger is not None:
        secret_reads.keep_proofs(ledger, by_id, reading, listed, now)
    got.log_errors = logs.collect(querying, got.handlers)
    replica_metrics = metrics.collect(runner, replica_folding, settings.window_minutes)
    got.log_signals = logs.collect_signals(querying)
    # Handlers the logs show failing are probed now, even when their record was fresh.
    more = handlers.submit(pools.probes, pools.probe_session, clients, settings.probe_per_host,
                           settings.probe_timeout_seconds, by_id,
                           probe_cache.with_log_errors(probing, got.handlers, got.log_errors))
    fresh = handlers.collect(probes)
    for rid, extra in handlers.collect(more).items():
        fresh.setdefault(rid, []).extend(extra)
    probe_cache.keep(probe_store, probing, fresh, now)
    got.probes = {rid: [*probing.reused.get(rid, ()), *fresh.get(rid, ())] for rid in {*probing.reused, *fresh}}

    # Wave 3: keys, only where the bound secrets say they are needed (listKeys spends ARM writes).
    got.keys = keys.collect(runner, clients, by_id, got.secrets, ledger, settings.max_list_keys, now)
    got.consumers = consumers.fold(runner, apps, by_id)
    got.rotation = key_age.fold(ages)

    for future in skus:  # the unit counts the observations carry; nothing before needs them
        future.result()
    return [observation(r, got, caches, _errors_of(runner.errors, r, got), now, replica_metrics) for r in resources]


def observation(r: Resource, got: Collected, caches: Caches, errors: tuple[ObservationError, ...],
                now: datetime, replica_metrics: dict[str, ResourceMetrics] | None = None) -> Observation:
    rid = r.id.lower()
    listed = got.replicas.get(rid)
    return Observation(
        resource=r,
        allowed_capacities=caches.skus.get(r.sku_name) or (),
        keys=got.keys.get(rid),
        secrets=tuple(got.secrets.get(rid, ())),
        metrics=got.metrics.get(rid),
        diagnostics=got.diagnostics.get(rid),
        autoscale=got.autoscale.get(rid, ()) if rid in got.autoscale_known else None,
        handlers=tuple(h for h, _ in got.handlers.get(rid, ())),
        hubs=got.hubs.get(rid),
        handler_sites=_handler_sites(r, got),
        replicas=None if listed is None else tuple(
            ReplicaObservation(rep, (replica_metrics or {}).get(rep.id.lower())) for rep in listed),
        alerts=alerts.scoped_to(got.alert_rules[r.subscription_id], r) if r.subscription_id in got.alert_rules
        else None,
        probes=tuple(got.probes.get(rid, ())),
        log_errors=got.log_errors.get(rid),
        log_signals=got.log_signals.get(rid),
        consumers=got.consumers.get(rid, ()),
        rotation=got.rotation.get(rid),  # no bound secret, no consumer; a blind read: None
        errors=errors,
        collected_at=now,
    )


def _submit_sites(calls: Calls, clients: AzureClients, caches: Caches, by_id: dict[str, Resource],
                  found: dict[str, list[tuple[EventHandler, Sensitive]]], now: datetime,
                  ) -> dict[str, Future[tuple[WebSite, ...] | None]]:
    """One sites list per subscription that has event handlers, unless this process listed it
    within SITES_MAX_AGE (then a done future holding what it listed)."""
    subs = sorted({by_id[rid].subscription_id for rid, pairs in found.items() if pairs and rid in by_id})
    return {sub: done(cached) if (cached := caches.site_lists.get(sub, now)) is not None else
            calls.submit(lambda sub=sub: sites.list_sites(clients, sub), "sites", subject=f"/subscriptions/{sub}",
                         action=sites.ACTION)
            for sub in subs}


def _collect_sites(caches: Caches, listing: dict[str, Future[tuple[WebSite, ...] | None]], now: datetime,
                   ) -> tuple[dict[str, tuple[WebSite, ...]], dict[str, tuple[WebSite, ...]]]:
    """Every subscription's apps, and those listed this sweep (not from the cache)."""
    got, fresh = results(listing), {}
    for sub, listed in got.items():
        if caches.site_lists.get(sub, now) is None:  # read this sweep: kept from now on
            caches.site_lists.put(sub, listed, now)
            fresh[sub] = listed
    return got, fresh


def _handler_sites(r: Resource, got: Collected) -> tuple[WebSite, ...] | None:
    """The apps serving the resource's handlers: () without handlers, None when they are unknown."""
    pairs = got.handlers.get(r.id.lower())
    if pairs is None:
        return None
    if not pairs:
        return ()
    listed = got.sites.get(r.subscription_id)
    return None if listed is None else sites.hosting(listed, (h.host for h, _ in pairs))


def _errors_of(errors: Errors, r: Resource, got: Collected) -> tuple[ObservationError, ...]:
    """The resource's errors, and its replicas' (their metrics), re-homed on it with the replica as
    subject: findings live under the resources a sweep lists, so they can resolve."""
    own = errors.of(r.id)
    theirs = tuple(replace(e, resource_id=r.id, subject=rep.id)
                   for rep in got.replicas.get(r.id.lower(), ()) for e in errors.of(rep.id))
    return own + theirs
