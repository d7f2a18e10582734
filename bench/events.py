"""python -m bench --events [--trials N]: how long from a key regenerated out of band to the Teams
card, and to the secret fixed and proven, when Event Grid tells the watchdog, against the timer.

On the demo scenario, in-process: the emulator's Event Grid (emulator/eventgrid.py) delivers each
change after a delivery delay drawn from DELAY_SECONDS ± JITTER_SECONDS (bench/README.md says why
those figures) to the Functions `events` function, called as the host calls it. Per trial: regenerate
presence-eu's primary key (the emulator's control surface, as someone in the portal would), wait for
the deliveries, read the times from the emulator: the card's arrival at the Teams host, and the
first data-plane proof after the watchdog's new secret version. The timer path on the same scenario:
the change waits for the next tick (uniform over the schedule period: half of it on average, all of
it at worst), then a whole sweep runs; its sweep-to-card time is measured.
"""
from __future__ import annotations

import functools
import json
import socket
import statistics
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

RESOURCE, VAULT, SECRET = "presence-eu", "kv-demo-contoso", "presence-connection"
TEAMS = "prod-27.westeurope.logic.azure.com"
DELAY_SECONDS, JITTER_SECONDS = 5.0, 3.0
SCHEDULE_SECONDS = 300  # WATCHDOG_SCHEDULE's default, every 5 minutes
TRIALS = 20


def function_endpoint(user_function: Callable[[Any], None]) -> Callable[[list[dict[str, Any]]], int]:
    """Deliver a batch to the events function as the host does: each event decoded by the Python
    worker's Event Grid converter; an exception is a 500 (Event Grid retries)."""
    from azure.functions import meta
    from azure.functions.eventgrid import EventGridEventInConverter

    def deliver(batch: list[dict[str, Any]]) -> int:
        for doc in batch:
            try:
                user_function(EventGridEventInConverter.decode(meta.Datum(json.dumps(doc), "json"),
                                                               trigger_metadata=None))
            except Exception:  # noqa: BLE001 - the host answers 500
                return 500
        return 200
    return deliver


@contextmanager
def _watchdog_env(emu: Any, ledger: Path) -> Iterator[None]:
    import pytest

    from emulator import dns

    with pytest.MonkeyPatch.context() as mp:
        emu.apply_env(mp)
        mp.setattr(socket, "getaddrinfo", dns.resolver(functools.partial(dns.answer, emu.world.hosts),
                                                       socket.getaddrinfo))
        for name, value in {"WATCHDOG_KEY_VAULTS": ",".join(emu.vault_urls()), "WATCHDOG_LEDGER": "sqlite",
                            "WATCHDOG_SQLITE_PATH": str(ledger), "WATCHDOG_SECRET_SYNC": "on",
                            "WATCHDOG_SCHEDULE": "0 */5 * * * *", "WATCHDOG_NOTIFY_TARGETS": "teams",
                            "WATCHDOG_NOTIFY_TEAMS_KIND": "teams",
                            # Every trial fixes the same finding again: with the default 4-hour
                            # interval, only the first fix would be announced (notify/lifecycle.py).
                            "WATCHDOG_NOTIFY_REPEAT_HOURS": "0",
                            "WATCHDOG_NOTIFY_TEAMS_URL": f"https://{TEAMS}/workflows/w/triggers/manual/paths/invoke?sig=b"
                            }.items():
            mp.setenv(name, value)
        yield


def _after(emu: Any, since: datetime) -> tuple[float | None, float | None]:
    """Seconds from `since` to the first card naming the resource, and to the first data-plane
    call on it after the watchdog's new secret version (the proof)."""
    card = next((d.at for d in emu.deliveries(TEAMS) if d.at >= since and RESOURCE in d.body.decode()), None)
    res = emu.world.resource_by_name(RESOURCE)
    written = [v.created for v in emu.world.vaults[VAULT].secrets[SECRET] if v.created >= since]
    proof = next((e.at for e in emu.journal if written and e.at >= written[0] and e.service == "dataplane"
                  and e.host == res.host), None)
    return (None if card is None else (card - since).total_seconds(),
            None if proof is None else (proof - since).total_seconds())


def _summary(values: list[float | None]) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    return {"n": len(values), "missing": len(values) - len(got),
            "median_s": round(statistics.median(got), 2) if got else None,
            "worst_s": round(max(got), 2) if got else None}


def run(trials: int = TRIALS, delay: float = DELAY_SECONDS, jitter: float = JITTER_SECONDS,
        functions: dict[str, Any] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """`functions`: the indexed Functions by name (app.get_functions() may run once per process)."""
    from emulator.eventgrid import EventGrid
    from emulator.runtime import Emulator

    if functions is None:
        import function_app

        functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    events_fn, sweep_fn = functions["events"].get_user_function(), functions["sweep"].get_user_function()
    card, proven, timer_sweep, timer_proven = [], [], [], []
    with tempfile.TemporaryDirectory() as state, Emulator("demo") as emu, _watchdog_env(emu, Path(state) / "e.db"):
        with EventGrid(emu.world, function_endpoint(events_fn), delay_seconds=delay, jitter_seconds=jitter,
                       retry_seconds=[1.0], max_attempts=3) as grid:
            for i in range(trials):
                since = emu.now()
                emu.regenerate_key(RESOURCE, "primary")
                if not grid.drain(120):
                    raise RuntimeError("Event Grid deliveries did not finish within 120 s")
                c, p = _after(emu, since)
                card.append(c)
                proven.append(p)
                log(f"events trial {i + 1}/{trials}: card {c} s, fixed and proven {p} s")
        # The timer path: a fresh ledger (nothing announced yet), the same change, one whole sweep.
        for i in range(max(1, min(3, trials))):
            with _fresh_ledger(Path(state) / f"t{i}.db"):
                since = emu.now()
                emu.regenerate_key(RESOURCE, "primary")
                sweep_fn(_Tick())
                c, p = _after(emu, since)
                timer_sweep.append(c)
                timer_proven.append(p)
                log(f"timer trial {i + 1}: sweep to card {c} s, to fixed and proven {p} s")
    swept = [v for v in timer_sweep if v is not None]
    fixed = [v for v in timer_proven if v is not None]
    return {"trials": trials, "delay_seconds": delay, "jitter_seconds": jitter, "schedule_seconds": SCHEDULE_SECONDS,
            "events": {"card": _summary(card), "fixed_and_proven": _summary(proven)},
            "timer": {"sweep_to_card": _summary(timer_sweep), "sweep_to_fixed_and_proven": _summary(timer_proven),
                      "card_median_s": round(SCHEDULE_SECONDS / 2 + statistics.median(swept), 1) if swept else None,
                      "card_worst_s": round(SCHEDULE_SECONDS + max(swept), 1) if swept else None,
                      "proven_median_s": round(SCHEDULE_SECONDS / 2 + statistics.median(fixed), 1) if fixed else None,
                      "proven_worst_s": round(SCHEDULE_SECONDS + max(fixed), 1) if fixed else None}}


@contextmanager
def _fresh_ledger(path: Path) -> Iterator[None]:
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WATCHDOG_SQLITE_PATH", str(path))
        yield


class _Tick:
    past_due = False


def markdown(result: dict[str, Any]) -> str:
    ev, tm = result["events"], result["timer"]
    return "\n".join([
        f"Event delay {result['delay_seconds']:g} s ± {result['jitter_seconds']:g} s, {result['trials']} trials; "
        f"timer every {result['schedule_seconds']} s.",
        "",
        "| path | to Teams card, median | worst | to secret fixed and proven, median | worst |",
        "|---|---:|---:|---:|---:|",
        f"| Event Grid → events function | {ev['card']['median_s']} s | {ev['card']['worst_s']} s "
        f"| {ev['fixed_and_proven']['median_s']} s | {ev['fixed_and_proven']['worst_s']} s |",
        f"| timer only (wait for the tick + sweep) | {tm['card_median_s']} s | {tm['card_worst_s']} s "
        f"| {tm['proven_median_s']} s | {tm['proven_worst_s']} s |",
    ])


BEGIN, END = "<!-- events -->", "<!-- /events -->"


def update_readme(result: dict[str, Any], readme: Path = Path(__file__).resolve().parent / "README.md") -> None:
    """Put the table between the events markers of bench/README.md."""
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{markdown(result)}\n{END}{tail}")
