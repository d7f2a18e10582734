"""One benchmark run: per size, a generated subscription in the emulator (ARM throttling on, Azure-like
latency), then the watchdog's first and steady-state sweeps and the baselines, each in a fresh
process; plus cold start. Returns plain data for results.py."""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from emulator import scenario as scenario_mod
from emulator.runtime import Emulator, child_env
from emulator.scenarios.generate import LATENCY, PAGE_SIZE, generate

from . import calls, child, profiled, results, timer
from .subjects import (
    C7N, C7N_ENV, PER_RESOURCE, REPO, THROTTLE_LINE, WATCHDOG, Subject, ensure_c7n_venv, watchdog_outcome,
)

SIZES = (10, 100, 1000, 5000)
QUICK_SIZES = (10, 100)
BASELINES_MAX = 1000
CHILD_TIMEOUT_S = 900  # past the Functions 10-minute timeout, so a slow sweep is measured, not cut
COLD_RUNS = 5
WARMUP_MAX_SIZE = 1000  # the steady-state targets are at 1,000; at 5,000 a warm-up would take most of an hour
WARMUP_MAX_SWEEPS = 12  # at 50 listKeys a sweep, 1,000 resources' ~360 bound ones need ~8
WARMUP_MAX_S = 1200
# Latency is drawn per call, so one sweep is one draw: the steady sweep and the one-resource check
# are measured several times and reported by their median run (every wall time is kept).
STEADY_RUNS = 3
ONE_RUNS = 5
STALE_RATIO = 0.2  # 1 bound secret in 5 holds a stale key (issue 17's subscription)
Log = Callable[[str], None]


def machine() -> dict[str, Any]:
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return {"hostname": platform.node(), "nproc": os.cpu_count(), "memory_gib": round(mem_kb / 1024 ** 2, 1),
            "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def code_version() -> dict[str, Any]:
    """The commit measured, and whether watchdog/ had uncommitted changes when the run started."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {"commit": git("rev-parse", "--short", "HEAD"), "watchdog_dirty": bool(git("status", "--porcelain", "watchdog"))}


def _env(emu: Emulator, state: Path) -> dict[str, str]:
    env = child_env(emu)
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME", "MSI_ENDPOINT", "MSI_SECRET"):
        env.pop(name, None)
    env.update({"WATCHDOG_LEDGER": "sqlite", "WATCHDOG_SQLITE_PATH": str(state / "ledger.sqlite3"),
                "WATCHDOG_KEY_VAULTS": ",".join(emu.vault_urls()),
                "PYTHONPATH": os.pathsep.join((str(REPO), env["PYTHONPATH"])),  # keeps the emulator's DNS stand-in
                "HOME": str(state)})  # c7n writes its cache and config under HOME
    return env


def _fresh_budget(emu: Emulator) -> None:
    """Forget past calls and refill ARM's buckets: sweeps run minutes apart (the timer's default is
    5 minutes), long enough for 250 reads at 25/s to refill, so each measurement starts as a timer
    sweep would."""
    with emu.world.lock:
        emu.world.buckets.clear()
    emu.journal.clear()


def measure(subject: Subject, emu: Emulator, env: dict[str, str], run_dir: Path) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    _fresh_budget(emu)
    result = child.run(subject.command(run_dir), timer.clocked_env(env), run_dir, CHILD_TIMEOUT_S)
    counted = calls.count(emu.journal)
    out: dict[str, Any] = {"exit_code": result.exit_code, "wall_s": result.wall_s, "cpu_s": result.cpu_s,
                           "peak_rss_mb": result.peak_rss_mb, "timed_out": result.timed_out,
                           "calls": {k: counted[k] for k in calls.KINDS}, "calls_total": counted["total"],
                           "throttled_429": counted["throttled"], "arm_operations": calls.arm_operations(emu.journal)}
    try:
        out.update(subject.parse(result.stdout, run_dir, result.stderr))
        out["ok"] = not result.timed_out
    except (ValueError, KeyError, OSError) as exc:
        out.update(ok=False, error=f"{type(exc).__name__}: {exc}", stderr_tail=result.stderr[-2000:],
                   unhandled_429=len(THROTTLE_LINE.findall(result.stderr)))
    return out


def measure_repeated(subject: Subject, emu: Emulator, env: dict[str, str], run_dir: Path, times: int,
                     between: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """`times` measurements (`between` each: the timer's interval, for sweeps); the median run by
    wall time, with every run's wall and sweep time in `repeats`."""
    measured = []
    for i in range(times):
        if i:
            between()
        measured.append(measure(subject, emu, env, run_dir / f"run{i + 1}"))
    ok = [r for r in measured if r["ok"]] or measured
    median = sorted(ok, key=lambda r: r["wall_s"])[(len(ok) - 1) // 2]
    return {**median, "repeats": [{"wall_s": r["wall_s"], "sweep_s": r.get("sweep_s"), "ok": r["ok"]} for r in measured]}


def run_size(n: int, seed: int, baselines: bool, c7n: bool, log: Log,
             stale_ratio: float = STALE_RATIO) -> dict[str, Any]:
    data = generate(n, seed, stale_ratio=stale_ratio)
    world = scenario_mod.load(data)
    timer.date_secrets_back(world)
    summary = {"resources": len(world.resources), "resource_groups": len(world.resource_groups),
               "regions": len({r.location for r in world.resources.values()}),
               "workspaces": len(world.workspaces), "vaults": len(world.vaults),
               "secrets": sum(len(v.secrets) for v in world.vaults.values()),
               "hubs": sum(len(r.hubs) for r in world.resources.values()),
               "event_handlers": sum(len(h.event_handlers) for r in world.resources.values() for h in r.hubs.values())}
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=f"wps-bench-{n}-") as tmp, Emulator(world) as emu:
        state = Path(tmp)
        env = _env(emu, state)
        runs["watchdog_first"] = measure(WATCHDOG, emu, env, state / "watchdog_first")
        _log_run(log, n, "watchdog_first", runs["watchdog_first"])
        warmup = (_warm_up(emu, env, state, runs["watchdog_first"], n, log) if n <= WARMUP_MAX_SIZE
                  else {"sweeps": 0, "settled": False, "skipped": f"no warm-up above {WARMUP_MAX_SIZE:,} resources"})
        timer.pass_interval()
        plan = [("watchdog_steady", WATCHDOG, {})]
        if baselines:
            plan.append(("per_resource", PER_RESOURCE, {}))
        if baselines and c7n:
            plan.append(("c7n", C7N, C7N_ENV))
        for label, subject, extra in plan:
            log(f"  {n:>5} resources: {label} ...")
            child_env_ = {**env, **extra}
            if subject is C7N:
                child_env_.pop("PYTHONPATH")  # c7n runs in its own venv; keep this repo off its path
            runs[label] = (measure_repeated(subject, emu, child_env_, state / label, STEADY_RUNS, timer.pass_interval)
                           if label == "watchdog_steady" else measure(subject, emu, child_env_, state / label))
            _log_run(log, n, label, runs[label])
            if label == "watchdog_steady":
                runs["watchdog_one"] = measure_repeated(_one_resource(world), emu, env, state / "watchdog_one", ONE_RUNS)
                _log_run(log, n, "watchdog_one", runs["watchdog_one"])
        timer.pass_interval()
        profile = _profile(emu, env, state / "watchdog_profile")
    for label, r in runs.items():
        if label.startswith("watchdog") and r["ok"]:
            r["probe_share"] = round(r["calls"]["handler_probes"] / max(1, summary["event_handlers"]), 3)
    return {"size": n, "scenario": summary, "runs": runs, "warmup": warmup, "ratios": results.ratios(runs),
            "profile": profile}


def _one_resource(world: Any) -> Subject:
    """The on-demand check of one resource by id: one with event handlers, logs and a bound secret
    if there is one (the most calls a resource can need)."""
    def weight(r: Any) -> tuple[int, str]:
        handlers = any(h.event_handlers for h in r.hubs.values())
        return (-(handlers + bool(r.diagnostics) + ("watchdog-secrets" in r.tags)), r.id)
    rid = min(world.resources.values(), key=weight).id
    return Subject("watchdog_one", lambda d: [*WATCHDOG.command(d), "--resource", rid], watchdog_outcome)


def _profile(emu: Emulator, env: dict[str, str], run_dir: Path) -> dict[str, Any]:
    """One more steady sweep under cProfile in every thread (bench/profiled.py), apart from the
    measured ones (profiling slows it): the top functions by cumulative and by own time."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _fresh_budget(emu)
    out = run_dir / "profile.pstats"
    result = child.run([sys.executable, "-m", "bench.profiled", str(out), "--", "check", "--format", "json"],
                       timer.clocked_env(env), run_dir, CHILD_TIMEOUT_S)
    if not out.exists():
        return {"error": result.stderr[-500:]}
    return {"wall_s": result.wall_s, "cpu_s": result.cpu_s, "cumulative": profiled.top(out, "cumulative"),
            "tottime": profiled.top(out, "tottime")}


def _log_run(log: Log, n: int, label: str, r: dict[str, Any]) -> None:
    log(f"  {n:>5} resources: {label}: {r['wall_s']:.1f} s, {r['calls_total']} calls, "
        f"{r['throttled_429']} x 429, {r['peak_rss_mb']:.0f} MB{'' if r['ok'] else ' FAILED: ' + r.get('error', '')}")


def _settled(run: dict[str, Any]) -> bool:
    """Nothing left to fill: no listKeys (every key record written) and no diagnostic-settings
    reads (every resource's cache entry written; hubs with secret-bearing templates are re-read
    every sweep by design, so they do not count)."""
    return run["ok"] and run["calls"]["list_keys"] == 0 and not run["arm_operations"].get("arm.diagnosticSettings")


def _warm_up(emu: Emulator, env: dict[str, str], state: Path, first: dict[str, Any], n: int,
             log: Log) -> dict[str, Any]:
    """Timer sweeps until the ledger's caches and key records are full, so that the steady-state
    measurement is one where nothing changed. The watchdog fills them over several sweeps on
    purpose (at most WATCHDOG_MAX_LIST_KEYS listKeys and what the ARM budget allows before the
    sweep deadline), so this reports how many sweeps that took. Bounded in sweeps and time."""
    walls: list[float] = []
    last, started = first, time.perf_counter()
    while not _settled(last) and len(walls) < WARMUP_MAX_SWEEPS and time.perf_counter() - started < WARMUP_MAX_S:
        timer.pass_interval()
        last = measure(WATCHDOG, emu, env, state / f"warmup_{len(walls) + 1}")
        walls.append(last["wall_s"])
        log(f"  {n:>5} resources: warm-up sweep {len(walls)}: {last['wall_s']:.1f} s, "
            f"{last['calls']['list_keys']} listKeys, {last['arm_operations'].get('arm.diagnosticSettings', 0)} cold reads")
    return {"sweeps": len(walls), "settled": _settled(last), "wall_s": walls}


def cold_start(log: Log) -> dict[str, Any]:
    """Median wall time of fresh processes: bare interpreter, importing function_app, and a first
    sweep of the demo scenario (fresh ledger each time)."""
    env = {k: v for k, v in os.environ.items()}
    env["PYTHONPATH"] = str(REPO)
    out: dict[str, Any] = {"runs": COLD_RUNS}
    with tempfile.TemporaryDirectory(prefix="wps-bench-cold-") as tmp:
        base = Path(tmp)
        for label, cmd in (("python_pass", [sys.executable, "-c", "pass"]),
                           ("import_function_app", [sys.executable, "-c", "import function_app"])):
            out[label] = _median_run(cmd, env, base / label, log, label)
        with Emulator("demo") as emu:
            runs = []
            for i in range(COLD_RUNS):
                state = base / f"demo-{i}"
                state.mkdir()
                _fresh_budget(emu)
                result = child.run(WATCHDOG.command(state), _env(emu, state), state, CHILD_TIMEOUT_S)
                runs.append(result.wall_s)
            out["demo_first_sweep"] = {"median_s": round(statistics.median(runs), 3), "all_s": runs}
            log(f"  cold start: demo_first_sweep {out['demo_first_sweep']['median_s']:.2f} s")
    return out


def _median_run(cmd: list[str], env: dict[str, str], where: Path, log: Log, label: str) -> dict[str, Any]:
    where.mkdir()
    runs = [child.run(cmd, env, where, 120).wall_s for _ in range(COLD_RUNS)]
    log(f"  cold start: {label} {statistics.median(runs):.2f} s")
    return {"median_s": round(statistics.median(runs), 3), "all_s": runs}


def run(sizes: tuple[int, ...], seed: int, baselines_max: int, c7n: bool, cold: bool, log: Log,
        stale_ratio: float = STALE_RATIO) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(), "seed": seed,
        "code": code_version(),
        "settings": {"latency_ms": LATENCY, "arm_throttling": True, "page_size": PAGE_SIZE,
                     "watchdog_command": "python -m watchdog check --format json (report only, SQLite ledger)",
                     "concurrency": int(os.environ.get("WATCHDOG_CONCURRENCY", "32")),
                     "baselines_max": baselines_max, "stale_ratio": stale_ratio,
                     "timer": "emulator's and watchdog's clocks moved 5 minutes forward before each later sweep (bench/timer.py)",
                     "load_at_start": os.getloadavg()},
    }
    if c7n and any(n <= baselines_max for n in sizes):
        result["c7n_version"] = ensure_c7n_venv(log)
    if cold:
        result["cold_start"] = cold_start(log)
    result["sizes"] = [run_size(n, seed, n <= baselines_max, c7n, log, stale_ratio) for n in sizes]
    result["settings"]["load_at_end"] = os.getloadavg()
    result["total_s"] = round(time.perf_counter() - started, 1)
    return result
