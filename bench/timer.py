"""Sweeps 5 minutes apart, measured back to back: before each later sweep the benchmark moves the
ledger's times (cache records, their activity-log marks, key records) 5 minutes into the past, as
if the timer's interval had passed. What falls due with time (a probe's or a proof's slot,
collect/spread.py) then falls due as it would between real timer sweeps; the calls, the ARM
budget (refilled before each sweep, harness._fresh_budget) and the sweep itself are real.
Secrets in the scenario are dated a day back, as in an estate nobody wrote to during the run.

Known flaw (found in the 2026-12-02 runs): moving the past back is not the same as moving the clock
forward for what falls due at absolute slots (spread.py): a record just re-checked at its slot sees
that slot again in the 5 minutes it was moved back, so slot-due probes and proofs are counted up to
twice. With these very keys a forward clock gives 172-187 of 1,092 handlers per sweep (1/6); this
model gave 430-550. The fix: records keep their next due time (moved back with them), or the child's
clock runs ahead."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from emulator.world import World

TIMER = timedelta(minutes=5)


def _earlier(text: str | None, by: timedelta) -> str | None:
    return None if not text else (datetime.fromisoformat(text) - by).isoformat(timespec="microseconds")


def pass_interval(ledger_path: Path, by: timedelta = TIMER) -> None:
    """Move every time the sweep compares with its clock `by` into the past."""
    db = sqlite3.connect(ledger_path)
    try:
        with db:
            rows = db.execute("SELECT kind, key, payload, fetched_at FROM cache").fetchall()
            for kind, key, payload, fetched_at in rows:
                data = json.loads(payload)
                if kind == "activity-log":
                    data["started"] = _earlier(data["started"], by)
                db.execute("UPDATE cache SET payload = ?, fetched_at = ? WHERE kind = ? AND key = ?",
                           (json.dumps(data, sort_keys=True, separators=(",", ":")), _earlier(fetched_at, by),
                            kind, key))
            for key, seen_at in db.execute("SELECT resource_key, seen_at FROM keys").fetchall():
                db.execute("UPDATE keys SET seen_at = ? WHERE resource_key = ?", (_earlier(seen_at, by), key))
    finally:
        db.close()


def date_secrets_back(world: World, by: timedelta = timedelta(days=1)) -> None:
    for vault in world.vaults.values():
        for versions in vault.secrets.values():
            for v in versions:
                v.created, v.updated = v.created - by, v.updated - by
