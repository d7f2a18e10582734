"""Results: the JSON file, the targets verdicts, and the Markdown tables for bench/README.md."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- results -->", "<!-- /results -->"
MAIN_README = Path(__file__).resolve().parent.parent / "README.md"
SUMMARY_BEGIN, SUMMARY_END = "<!-- bench-summary -->", "<!-- /bench-summary -->"
SUMMARY_LABELS = {"watchdog_first": "watchdog, first (cold caches)", "watchdog_steady": "watchdog, steady state",
                  "watchdog_one": "watchdog, one resource", "per_resource": "per-resource script",
                  "c7n": "Cloud Custodian"}
RUN_LABELS = {"watchdog_first": "watchdog, first sweep", "watchdog_steady": "watchdog, steady state (median run)",
              "watchdog_one": "watchdog, one resource (`--resource`, median run)",
              "per_resource": "per-resource script", "c7n": "Cloud Custodian"}


def budget_calls(run: dict[str, Any]) -> int:
    """Calls that spend the subscription's Azure Monitor and ARM budgets (throttled per subscription):
    ARM reads and writes and batch metrics. Key Vault, data plane and the customer's hosts have
    limits of their own, per vault, per resource and per host."""
    return run["calls"]["arm_reads"] + run["calls"]["arm_writes"] + run["calls"]["batch_metrics"]


def ratios(runs: dict[str, Any]) -> dict[str, Any]:
    """How many times fewer calls (all, and ARM + metrics) and less wall time the watchdog's
    steady sweep needs than each baseline."""
    steady = runs.get("watchdog_steady")
    out: dict[str, Any] = {}
    if not steady or not steady["ok"]:
        return out
    for base in ("per_resource", "c7n"):
        b = runs.get(base)
        if b and b["ok"]:
            out[base] = {"calls": round(b["calls_total"] / max(1, steady["calls_total"]), 1),
                         "arm_and_metrics_calls": round(budget_calls(b) / max(1, budget_calls(steady)), 1),
                         "wall": round(b["wall_s"] / max(0.001, steady["wall_s"]), 1)}
    return out


def _run(result: dict[str, Any], size: int, label: str) -> dict[str, Any] | None:
    for entry in result["sizes"]:
        if entry["size"] == size:
            return entry["runs"].get(label)
    return None


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Issues 7's and 17's targets, each with the measured figure (of the median run where a run was
    repeated) and met / missed / not measured."""
    out: list[dict[str, Any]] = []

    def check(name: str, run: dict[str, Any] | None, value: Any, ok: bool) -> None:
        out.append({"target": name, "measured": value if run else None,
                    "verdict": "not measured" if run is None else "met" if ok else "missed"})

    s = _run(result, 1000, "watchdog_steady")
    check("1,000: steady sweep ≤ 10 s wall", s, s and s["wall_s"], bool(s) and s["ok"] and s["wall_s"] <= 10)
    check("1,000: steady sweep ≤ 40 batch metrics calls", s, s and s["calls"]["batch_metrics"],
          bool(s) and s["calls"]["batch_metrics"] <= 40)
    check("1,000: steady sweep ≤ 60 ARM reads", s, s and s["calls"]["arm_reads"], bool(s) and s["calls"]["arm_reads"] <= 60)
    check("1,000: no ARM writes when nothing changed", s, s and s["calls"]["arm_writes"],
          bool(s) and s["calls"]["arm_writes"] == 0)
    one = _run(result, 1000, "watchdog_one")
    check("1,000: one-resource check ≤ 2 s wall", one, one and one["wall_s"], bool(one) and one["ok"] and one["wall_s"] <= 2)
    watchdog_runs = [r for e in result["sizes"] for k, r in e["runs"].items() if k.startswith("watchdog")]
    unhandled = sum(r.get("unhandled_429", 0) for r in watchdog_runs)
    check("no unhandled 429 at any size", watchdog_runs or None, unhandled,
          all(r["ok"] for r in watchdog_runs) and unhandled == 0)
    big = [r for r in (_run(result, 5000, "watchdog_first"), _run(result, 5000, "watchdog_steady")) if r]
    peak = max((r["peak_rss_mb"] for r in big), default=None)
    check("5,000: peak memory ≤ 250 MB", big or None, peak, bool(big) and peak <= 250)
    slowest = max((r["wall_s"] for r in big), default=None)
    check("5,000: sweep inside the 10-minute function timeout", big or None, slowest,
          bool(big) and all(r["ok"] for r in big) and slowest < 600)
    ratios_1000 = next((ratios(e["runs"]) for e in result["sizes"] if e["size"] == 1000), {})
    for base, title in (("per_resource", "per-resource way"), ("c7n", "Cloud Custodian")):
        r = ratios_1000.get(base)
        check(f"1,000: ≥ 10× fewer calls than the {title}", r, r and r["calls"], bool(r) and r["calls"] >= 10)
        check(f"1,000: ≥ 5× less wall time than the {title}", r, r and r["wall"], bool(r) and r["wall"] >= 5)
    return out


def write_json(result: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{result['date'][:10]}-{result['machine']['hostname']}.json"
    if path.exists():  # a second run the same day keeps the first: name it by its time too
        path = path.with_name(f"{path.stem}-{result['date'][11:16].replace(':', '')}.json")
    path.write_text(json.dumps({**result, "targets": targets(result)}, indent=1) + "\n")
    return path


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    code = result.get("code", {})
    lines = [f"Run of {result['date']}" + (f" (commit {code['commit']}{', watchdog/ modified' if code['watchdog_dirty'] else ''})"
                                           if code else "") + f" on `{m['hostname']}`: {m['nproc']} cores ({m['cpu']}), "
             f"{m['memory_gib']} GiB, Python {m['python']}; total {result['total_s']:.0f} s"
             + (f"; {result['c7n_version']}" if result.get("c7n_version") else "")
             + (f"; 1 bound secret in {round(1 / st['stale_ratio'])} stale" if (st := result.get("settings", {})).get("stale_ratio") else "")
             + (f"; load average {st['load_at_start'][0]:.1f} at the start, {st['load_at_end'][0]:.1f} at the end"
                if st.get("load_at_end") else "") + ".", "",
             "| resources | run | wall s | sweep s | CPU s | peak MB | calls | ARM reads | ARM writes (listKeys) "
             "| ARM metrics | batch metrics | log queries | Key Vault | data plane | handler probes | 429 met "
             "| 429 unhandled | probe share |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for entry in result["sizes"]:
        for label, r in entry["runs"].items():
            c = r["calls"]
            sweep = f"{r['sweep_s']:.1f}" if r.get("sweep_s") is not None else ""
            name = RUN_LABELS[label] + ("" if r["ok"] else " (FAILED)")
            lines.append(f"| {entry['size']:,} | {name} | {r['wall_s']:.1f} | {sweep} | {r['cpu_s']:.1f} "
                         f"| {r['peak_rss_mb']:.0f} | {r['calls_total']:,} | {c['arm_reads']:,} "
                         f"| {c['arm_writes']:,} ({c['list_keys']:,}) | {c['arm_metrics']:,} | {c['batch_metrics']:,} "
                         f"| {c['log_queries']:,} | {c['keyvault']:,} | {c['dataplane']:,} | {c['handler_probes']:,} "
                         f"| {r['throttled_429']:,} | {r.get('unhandled_429', '')} "
                         f"| {'' if r.get('probe_share') is None else format(r['probe_share'], '.0%')} |")
    repeated = [f"{e['size']:,} {RUN_LABELS[label].split(' (')[0].removeprefix('watchdog, ')}: "
                + ", ".join(f"{x['wall_s']:.1f}" for x in r["repeats"]) + " s"
                for e in result["sizes"] for label, r in e["runs"].items() if r.get("repeats")]
    if repeated:
        lines += ["", "Repeated runs (latency is drawn per call, so one run is one draw; the table shows the median "
                      "run), wall times: " + "; ".join(repeated) + "."]
    warmups = [f"{e['size']:,}: {w['sweeps']} sweep(s) ({', '.join(f'{x:.0f} s' for x in w['wall_s'])})"
               + ("" if w["settled"] else " — not settled") for e in result["sizes"]
               if (w := e.get("warmup")) and not w.get("skipped")]
    if warmups:
        lines += ["", "Between the first and the steady-state sweep, timer sweeps fill the ledger's caches and key "
                      "records (at most WATCHDOG_MAX_LIST_KEYS listKeys a sweep, cold reads within the ARM budget "
                      "before the sweep deadline). Warm-up sweeps until nothing was left to fill: " + "; ".join(warmups)
                      + ". Above 1,000 resources the steady-state run is the second sweep, caches still filling."]
    ratio_rows = [f"| {e['size']:,} | {base.replace('_', '-')} | {r['calls']}× | {r['arm_and_metrics_calls']}× "
                  f"| {r['wall']}× |" for e in result["sizes"] for base, r in ratios(e["runs"]).items()]
    if ratio_rows:
        lines += ["", "Watchdog steady-state sweep against each baseline: how many times fewer calls (all, and those "
                      "spending the subscription's ARM and metrics budgets) and how many times less wall time "
                      "(below 1×: the watchdog spends more):", "",
                  "| resources | baseline | calls | ARM + metrics calls | wall time |", "|---:|---|---:|---:|---:|",
                  *ratio_rows]
    for e in result["sizes"]:
        prof = e.get("profile") or {}
        if prof.get("cumulative"):
            lines += ["", f"Profile of one more steady sweep at {e['size']:,} resources (cProfile in every thread, "
                          f"summed over threads; {prof['wall_s']:.1f} s wall, {prof['cpu_s']:.1f} s CPU under the "
                          "profiler), top 10 by cumulative time, then by own time:", "",
                      "| function | calls | own s | cumulative s |", "|---|---:|---:|---:|",
                      *[f"| `{row['function']}` | {row['calls']:,} | {row['tottime_s']:.2f} | {row['cumulative_s']:.2f} |"
                        for row in prof["cumulative"]], "",
                      "| function | calls | own s | cumulative s |", "|---|---:|---:|---:|",
                      *[f"| `{row['function']}` | {row['calls']:,} | {row['tottime_s']:.2f} | {row['cumulative_s']:.2f} |"
                        for row in prof["tottime"]]]
    cold = result.get("cold_start")
    if cold:
        lines += ["", f"Cold start (median of {cold['runs']} fresh processes): `python -c pass` "
                      f"{cold['python_pass']['median_s']:.2f} s, `import function_app` "
                      f"{cold['import_function_app']['median_s']:.2f} s, first sweep of the demo scenario "
                      f"{cold['demo_first_sweep']['median_s']:.2f} s."]
    lines += ["", "| target | measured | verdict |", "|---|---:|---|"]
    lines += [f"| {t['target']} | {'' if t['measured'] is None else t['measured']} | {t['verdict']} |"
              for t in targets(result)]
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> str:
    """The short table of the project README: per size, each tool's wall time and the calls that matter."""
    code, st = result.get("code", {}), result.get("settings", {})
    lines = [f"Run of {result['date'][:10]} (commit {code.get('commit', '?')}; {result['machine']['nproc']} cores, "
             f"Python {result['machine']['python']}; the emulator shares the machine"
             + (f"; load average {st['load_at_start'][0]:.1f} → {st['load_at_end'][0]:.1f}" if st.get("load_at_end") else "")
             + (f"; 1 bound secret in {round(1 / st['stale_ratio'])} stale" if st.get("stale_ratio") else "") + "):", "",
             "| resources | run | wall | ARM reads / writes | batch metrics | Key Vault / data plane | handler probes "
             "| 429 unhandled | peak memory |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for entry in result["sizes"]:
        for label, r in entry["runs"].items():
            c = r["calls"]
            lines.append(f"| {entry['size']:,} | {SUMMARY_LABELS[label]}{'' if r['ok'] else ' (FAILED)'} "
                         f"| {r['wall_s']:.1f} s | {c['arm_reads']:,} / {c['arm_writes']:,} | {c['batch_metrics']:,} "
                         f"| {c['keyvault']:,} / {c['dataplane']:,} | {c['handler_probes']:,} "
                         f"| {r.get('unhandled_429', '')} | {r['peak_rss_mb']:.0f} MB |")
    return "\n".join(lines)


def _replace(text: str, begin: str, end: str, body: str) -> str:
    return re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: begin + "\n" + body + "\n" + end, text,
                  flags=re.S)


def update_readme(*runs: dict[str, Any], readme: Path = README, main_readme: Path | None = MAIN_README) -> None:
    """Replace the tables between the results markers of bench/README.md with these runs', and the
    summary table between the bench-summary markers of the project README with the first run's."""
    readme.write_text(_replace(readme.read_text(), BEGIN, END, "\n\n".join(markdown(r) for r in runs)))
    if main_readme is not None and runs and SUMMARY_BEGIN in (text := main_readme.read_text()):
        main_readme.write_text(_replace(text, SUMMARY_BEGIN, SUMMARY_END, summary(runs[0])))
