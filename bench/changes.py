"""python -m bench.changes REV [REV ...] [--size N] [--steady N]: what each commit did to a sweep,
measured one after another on the same emulated subscription (issue 17: "each change measured
before and after").

Per revision, a detached `git worktree` of it is the watchdog under test (its own watchdog/, on
PYTHONPATH ahead of this tree's emulator): a first sweep on an empty ledger, warm-up sweeps until
nothing is left to fill (with WATCHDOG_MAX_LIST_KEYS raised so the key records fill in one or two
sweeps rather than eight; the measured sweeps use the defaults), then `--steady` steady sweeps, 5
minutes apart by the same clock-forward model as the benchmark (bench/timer.py). A revision
without watchdog/clock.py (before 2026-12-02) cannot run ahead of the wall clock, so only its first
sweep is measured. Each revision gets a fresh ledger and the emulator's clock and journal start
over; the subscription is regenerated from the same seed. Writes bench/results/<date>-changes.json
and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from emulator import clock
from emulator import scenario as scenario_mod
from emulator.runtime import Emulator
from emulator.scenarios.generate import generate

from . import calls, child, offset, timer
from .harness import CHILD_TIMEOUT_S, STALE_RATIO, WARMUP_MAX_SWEEPS, _env, _fresh_budget, machine
from .subjects import REPO, watchdog_outcome

# The child: the revision's CLI, its clock moved as far ahead as the emulator's (bench/offset.py, loaded
# by path: the revision's own bench/ may predate it). A revision without watchdog/clock.py runs only
# its first sweep, at offset 0, where apply() imports nothing.
CHILD = ("import runpy, sys\n"
         f"runpy.run_path({str(Path(offset.__file__))!r})['apply']()\n"
         "from watchdog import cli\n"
         "sys.exit(cli.main(sys.argv[1:]))\n")
WARMUP_LIST_KEYS = "400"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def _sweep(emu: Emulator, env: dict[str, str], where: Path) -> dict[str, Any]:
    where.mkdir(parents=True, exist_ok=True)
    _fresh_budget(emu)
    result = child.run([sys.executable, "-c", CHILD, "check", "--format", "json"], timer.clocked_env(env), where,
                       CHILD_TIMEOUT_S)
    counted = calls.count(emu.journal)
    out = {"wall_s": result.wall_s, "cpu_s": result.cpu_s, "peak_rss_mb": result.peak_rss_mb,
           "calls": {k: counted[k] for k in calls.KINDS}, "calls_total": counted["total"]}
    try:
        out.update(watchdog_outcome(result.stdout, where, result.stderr))
    except (ValueError, KeyError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}; {result.stderr[-300:]}"
    return out


def measure(rev: str, n: int, steady: int, seed: int, log: Any) -> dict[str, Any]:
    commit = _git("rev-parse", "--short", rev)
    with tempfile.TemporaryDirectory(prefix=f"wps-changes-{commit}-") as tmp:
        tree, state = Path(tmp) / "tree", Path(tmp) / "state"
        state.mkdir()
        _git("worktree", "add", "--detach", "--force", str(tree), commit)
        try:
            world = scenario_mod.load(generate(n, seed, stale_ratio=STALE_RATIO))
            timer.date_secrets_back(world)
            with Emulator(world) as emu:
                env = _env(emu, state)
                env["PYTHONPATH"] = os.pathsep.join((str(tree), env["PYTHONPATH"]))
                first = _sweep(emu, env, state / "first")
                log(f"  {commit}: first sweep {first.get('sweep_s')} s, {first['cpu_s']:.1f} s CPU")
                out: dict[str, Any] = {"commit": commit, "subject": _git("log", "-1", "--format=%s", commit)[:160],
                                       "first": first, "steady": []}
                if not (tree / "watchdog" / "clock.py").exists():
                    out["note"] = "no watchdog/clock.py: first sweep only"
                    return out
                warm = {**env, "WATCHDOG_MAX_LIST_KEYS": WARMUP_LIST_KEYS}
                for i in range(WARMUP_MAX_SWEEPS):
                    timer.pass_interval()
                    run = _sweep(emu, warm, state / f"warmup{i}")
                    if run["calls"]["list_keys"] == 0:
                        break
                out["warmup_sweeps"] = i + 1
                for i in range(steady):
                    timer.pass_interval()
                    out["steady"].append(_sweep(emu, env, state / f"steady{i}"))
                    log(f"  {commit}: steady sweep {out['steady'][-1].get('sweep_s')} s")
                return out
        finally:
            clock.reset()
            _git("worktree", "remove", "--force", str(tree))


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 2) if values else None


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Change by change ({result['date']}, {result['size']:,} resources, median of {result['steady']} steady "
             f"sweeps; `python -m bench.changes`):", "",
             "| commit | change | first sweep s | first CPU s | steady sweep s | steady CPU s | steady calls | log queries | handler probes |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["revisions"]:
        s = r["steady"]
        calls_ = [x["calls_total"] for x in s]
        lines.append(f"| {r['commit']} | {r['subject']} | {r['first'].get('sweep_s') or 0:.1f} | {r['first']['cpu_s']:.1f} | "
                     + (f"{_median(s, 'sweep_s')} | {_median(s, 'cpu_s')} | {statistics.median(calls_):.0f} | "
                        f"{statistics.median(x['calls']['log_queries'] for x in s):.0f} | "
                        f"{statistics.median(x['calls']['handler_probes'] for x in s):.0f} |" if s else "- | - | - | - | - |"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.changes", description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--steady", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "size": args.size, "steady": args.steady, "load_at_start": os.getloadavg(),
              "revisions": [measure(rev, args.size, args.steady, args.seed, log) for rev in args.revisions]}
    result["load_at_end"] = os.getloadavg()
    path = REPO / "bench" / "results" / f"{result['date'][:10]}-changes.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    log(f"results: {path}")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
