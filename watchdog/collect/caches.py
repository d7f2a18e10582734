"""What a process keeps between sweeps: one `Caches` per process (the Functions app keeps one,
the CLI makes one per run), a fresh one for each test that wants a fresh process."""
from __future__ import annotations

from dataclasses import dataclass, field

from watchdog.collect.cache import MemoryStore, ResourceCache
from watchdog.collect.consumers import SiteIndex
from watchdog.collect.inventory import SkuCache
from watchdog.collect.sites import SitesCache
from watchdog.ledger.base import Ledger


@dataclass
class Caches:
    # Allowed unit counts per SKU name: the same for every resource of the SKU.
    skus: SkuCache = field(default_factory=SkuCache)
    # Hubs and diagnostics between sweeps without a ledger (with one, the ledger holds them).
    resources: ResourceCache = field(default_factory=ResourceCache)
    # Event-handler probe records between sweeps without a ledger (collect/probe_cache.py).
    probes: MemoryStore = field(default_factory=MemoryStore)
    # Which secrets each App Service / Function app's references name (never values).
    sites: SiteIndex = field(default_factory=SiteIndex)
    # App Service / Function apps per subscription (upstream/cross-region): a site never moves region.
    site_lists: SitesCache = field(default_factory=SitesCache)

    def resources_for(self, ledger: Ledger | None) -> ResourceCache:
        """Where a sweep keeps hubs, diagnostics and activity-log marks: the ledger when it has one
        (every process then starts warm), else this process's memory."""
        return ResourceCache(ledger) if ledger is not None else self.resources
