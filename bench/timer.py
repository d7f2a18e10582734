"""Sweeps 5 minutes apart, measured back to back: before each later sweep the benchmark moves the
clock 5 minutes forward, the emulated Azure's (emulator/clock.py: activity log, metrics, Key Vault
and log times) and the watchdog's alike. The watchdog runs with its clock (watchdog/clock.py) as
far ahead as the emulator's (`python -m bench.clocked`, bench/offset.py), so what
falls due with time (a probe's or a proof's slot, collect/spread.py; a cache entry's age) falls
due as between real timer sweeps; the calls, the ARM budget (refilled before each sweep,
harness._fresh_budget) and the sweep itself are real. Tokens stay on real time on both sides.
Secrets in the scenario are dated a day back, as in an estate nobody wrote to during the run.

(Until 2026-12-02 the ledger's times were moved back instead. That is not the same for what falls
due at slots fixed in absolute time: a record just re-checked at its slot met that slot again, and
twice as many probes and proofs fell due as with a clock moving forward.)"""
from __future__ import annotations

from datetime import timedelta

from emulator import clock
from emulator.world import World

from . import offset

TIMER = timedelta(minutes=5)


def pass_interval(by: timedelta = TIMER) -> None:
    """The timer's interval passes: the emulated Azure's clock moves forward (the watchdog's
    follows it through `clocked_env`)."""
    clock.advance(by)


def clocked_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with the watchdog's clock offset: the emulator's."""
    return {**env, offset.VARIABLE: str(clock.offset().total_seconds())}


def date_secrets_back(world: World, by: timedelta = timedelta(days=1)) -> None:
    for vault in world.vaults.values():
        for versions in vault.secrets.values():
            for v in versions:
                v.created, v.updated = v.created - by, v.updated - by
