"""The benchmark harness end to end on a tiny size: every measurement runs, its JSON has every field,
and the README table renders. Timings are not asserted: this machine's speed is not under test.
Cloud Custodian is left out (its venv takes minutes to build); its policy and command are checked."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import calls, harness, results, subjects
from emulator.server import JournalEntry
from emulator.world import utcnow

RUN_FIELDS = {"exit_code", "wall_s", "cpu_s", "peak_rss_mb", "timed_out", "calls", "calls_total", "throttled_429",
              "arm_operations", "ok", "findings", "unhandled_429"}


@pytest.fixture(scope="module")
def run() -> dict:
    return harness.run((4,), seed=2, baselines_max=4, c7n=False, cold=False, log=lambda _m: None)


def test_every_measurement_runs_and_reports_every_field(run: dict) -> None:
    assert set(run["machine"]) == {"hostname", "nproc", "memory_gib", "cpu", "python", "platform"}
    assert set(run["settings"]) >= {"latency_ms", "arm_throttling", "page_size", "concurrency", "baselines_max"}
    (size,) = run["sizes"]
    assert size["size"] == 4 and size["scenario"]["resources"] == 4
    assert set(size["runs"]) == {"watchdog_first", "watchdog_steady", "watchdog_one", "per_resource"}
    assert size["runs"]["watchdog_one"]["resources"] == 1
    assert size["runs"]["watchdog_one"]["arm_operations"].get("arm.listBySubscription", 0) == 0
    # Each watchdog run reports its probe share; the profile names functions with their times.
    assert all(0 <= size["runs"][k]["probe_share"] <= 1 for k in ("watchdog_first", "watchdog_steady"))
    assert len(size["profile"]["cumulative"]) == 10 and size["profile"]["cumulative"][0]["cumulative_s"] > 0
    # Warm-up runs until the caches and key records are full; then the steady sweep lists no keys.
    assert size["warmup"]["settled"] and len(size["warmup"]["wall_s"]) == size["warmup"]["sweeps"]
    assert size["runs"]["watchdog_steady"]["calls"]["list_keys"] == 0
    # The steady sweep and the one-resource check are repeated (one run is one latency draw).
    assert len(size["runs"]["watchdog_steady"]["repeats"]) == harness.STEADY_RUNS
    assert len(size["runs"]["watchdog_one"]["repeats"]) == harness.ONE_RUNS
    assert size["runs"]["watchdog_one"]["wall_s"] in [r["wall_s"] for r in size["runs"]["watchdog_one"]["repeats"]]
    for label, measured in size["runs"].items():
        assert measured["ok"], (label, measured.get("error"), measured.get("stderr_tail"))
        assert RUN_FIELDS <= set(measured), label
        assert set(measured["calls"]) == set(calls.KINDS)
        assert measured["calls_total"] > 0 and measured["peak_rss_mb"] > 0
    for label in ("watchdog_first", "watchdog_steady"):
        watchdog = size["runs"][label]
        assert watchdog["resources"] == 4 and watchdog["sweep_s"] is not None
        assert watchdog["calls"]["batch_metrics"] >= 1 and watchdog["calls"]["arm_metrics"] == 0
    assert size["runs"]["per_resource"]["calls"]["arm_metrics"] == 4
    assert size["runs"]["per_resource"]["arm_operations"]["arm.metrics"] == 4
    assert set(size["ratios"]) == {"per_resource"}
    assert set(size["ratios"]["per_resource"]) == {"calls", "arm_and_metrics_calls", "wall"}


def test_results_file_and_table(run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path)
    data = json.loads(results.write_json({**run, "total_s": 1.0}).read_text())
    assert {t["verdict"] for t in data["targets"]} <= {"met", "missed", "not measured"}
    assert len(data["targets"]) == 12
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{results.BEGIN}\nPREVIOUS-TABLE\n{results.END}\nafter\n")
    main = tmp_path / "MAIN.md"
    main.write_text(f"intro\n{results.SUMMARY_BEGIN}\nOLD\n{results.SUMMARY_END}\nrest\n")
    results.update_readme({**run, "total_s": 1.0}, readme=readme, main_readme=main)
    assert "OLD" not in main.read_text() and "| 4 | watchdog, one resource |" in main.read_text()
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "PREVIOUS-TABLE" not in text
    assert "| 4 | watchdog, steady state (median run) |" in text and "| target | measured | verdict |" in text
    assert "Repeated runs" in text
    assert "| 4 | watchdog, one resource (`--resource`, median run) |" in text and "top 10 by cumulative time" in text


def test_calls_are_counted_by_kind() -> None:
    def entry(service: str, method: str, op: str = "", status: int = 200) -> JournalEntry:
        return JournalEntry(utcnow(), method, "h", "/", "", status, 1.0, service, op)

    counted = calls.count([entry("arm", "GET", "arm.listBySubscription"), entry("arm", "GET", "arm.metrics", 429),
                           entry("arm", "POST", "arm.listKeys"), entry("metrics", "POST", status=529),
                           entry("logs", "POST"), entry("keyvault", "GET", status=401), entry("dataplane", "HEAD"),
                           entry("customer", "OPTIONS"), entry("customer", "POST"), entry("identity", "GET"),
                           entry("proxy", "CONNECT", status=403)])
    assert counted == {"arm_reads": 2, "arm_writes": 1, "list_keys": 1, "arm_metrics": 1, "batch_metrics": 1,
                       "log_queries": 1, "keyvault": 1, "dataplane": 1, "handler_probes": 1, "notifications": 1,
                       "identity": 1, "total": 10, "throttled": 2}


def test_c7n_policy_asks_what_the_watchdog_asks(tmp_path: Path) -> None:
    command = subjects.C7N.command(tmp_path)
    policy = json.loads((tmp_path / "policy.json").read_text())["policies"][0]
    assert policy["resource"] == "azure.armresource"
    assert {f["type"] for f in policy["filters"]} == {"value", "metric"}
    assert command[0].endswith("bin/custodian") and "--cache-period" in command
    assert subjects.C7N_ENV == {"AZURE_USE_MSI": "1"}
