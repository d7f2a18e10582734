"""`python -m watchdog rotate RESOURCE [--plan]`: start a staged rotation on demand (or take the
next step of one under way), through the same sweep, lease and audit trail as the timer."""
from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timedelta

from watchdog import clock
from typing import TYPE_CHECKING

from . import report as report_mod
from . import rotation as machine
from .scope import Scope

if TYPE_CHECKING:
    from .ledger.base import Ledger
    from .settings import Settings


def rotate(settings: Settings, ledger: Ledger, resource: str, plan: bool, fmt: str,
           now: datetime | None = None) -> int:
    from .azure import AzureClients
    from .remediate import rotate as executor
    from .sweep import observe, run_sweep

    now = now or clock.now()
    settings = replace(settings, rotate="plan" if plan else "on")
    scope = Scope(resources=(resource,))
    with AzureClients(settings) as clients:
        found = observe(settings, scope, clients=clients, ledger=ledger, now=now).observations
        if len(found) != 1:
            print(f"watchdog: no single Web PubSub resource matches {resource!r}", file=sys.stderr)
            return report_mod.EXIT_USAGE
        obs = found[0]
        if not obs.secrets:
            print(f"watchdog: {obs.resource.name} has no bound secret: nothing to move between keys", file=sys.stderr)
            return report_mod.EXIT_USAGE
        if plan:
            print(_schedule(obs, settings, now))
            return 0
        executor.begin(ledger, obs.resource.id, now)
        report = run_sweep(settings, scope, {"rotate": "on"}, clients=clients, ledger=ledger, now=now)
    print(report_mod.render(report, fmt))
    return report_mod.exit_code(report)


def _schedule(obs, settings: Settings, now: datetime) -> str:  # noqa: ANN001
    from .remediate.rotate import sweep_every

    record = obs.rotation.record if obs.rotation else None
    running = record is not None and record.active
    record = record if running and record else machine.start(obs.resource.id, now)
    grace = timedelta(minutes=settings.rotate_grace_minutes)
    lines = [f"Rotation of {obs.resource.name}: " + (f"under way since {record.started_at:%Y-%m-%d %H:%M} UTC, stage "
                                                      f"{record.stage}" if running else "not started (plan)"),
             f"  secrets: {', '.join(s.uri for s in obs.secrets)}",
             f"  apps reading them: {', '.join(sorted({c.site_name for c in obs.consumers or ()})) or 'none found'}"]
    if record.paused:
        lines.append(f"  paused ({record.paused}): waits for {record.waiting}")
    lines += [f"  {at:%Y-%m-%d %H:%M} UTC  {step}" for step, at in
              machine.schedule(record, grace, sweep_every(settings.schedule), now)]
    lines.append("  (earliest times: one step per sweep, each only once the one before is proven)")
    return "\n".join(lines)
