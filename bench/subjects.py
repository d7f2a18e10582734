"""What is measured: the watchdog's own CLI sweep and the two baselines, as commands to run in a
fresh process inside the emulated Azure, and how to read each one's output."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
C7N_VENV = BENCH_DIR / ".venv-c7n"
C7N_REQUIREMENTS = BENCH_DIR / "requirements-c7n.txt"
C7N_POLICY = {"policies": [{
    "name": "webpubsub-near-connection-cap",
    "resource": "azure.armresource",
    "filters": [
        {"type": "value", "key": "type", "value_type": "normalize", "value": "microsoft.signalrservice/webpubsub"},
        # The same question the watchdog's capacity rule asks: peak connections over 30 minutes.
        {"type": "metric", "metric": "TotalConnectionCount", "aggregation": "maximum", "op": "ge",
         "threshold": 800, "timeframe": 0.5, "interval": "PT1M"},
    ],
}]}
# A 429 the client gave up on shows up in its log as the error code or status (retries do not log).
THROTTLE_LINE = re.compile(r"TooManyRequests|\(429\)|status(?: code)?:? 429", re.IGNORECASE)


@dataclass
class Subject:
    name: str
    command: Callable[[Path], list[str]]  # run directory -> argv
    parse: Callable[[str, Path, str], dict[str, Any]]  # stdout, run directory, stderr -> outcome


def watchdog_outcome(stdout: str, _run_dir: Path, _stderr: str) -> dict[str, Any]:
    report = json.loads(stdout)
    errors = report.get("errors", [])
    return {"resources": report["summary"]["resources"], "findings": len(report["findings"]),
            "errors": len(errors), "unhandled_429": sum(e.get("kind") == "throttled" for e in errors),
            "sweep_s": report.get("duration_seconds"), "client_api_calls": report.get("api_calls", {}),
            "timings": report.get("timings", {})}


def _per_resource_outcome(stdout: str, _run_dir: Path, stderr: str) -> dict[str, Any]:
    data = json.loads(stdout)
    return {"resources": data["resources"], "findings": data["over_threshold"],
            "unhandled_429": len(THROTTLE_LINE.findall(stderr))}


def _c7n_outcome(_stdout: str, run_dir: Path, stderr: str) -> dict[str, Any]:
    matched = json.loads((run_dir / "out" / C7N_POLICY["policies"][0]["name"] / "resources.json").read_text())
    return {"findings": len(matched), "unhandled_429": len(THROTTLE_LINE.findall(stderr))}


# bench.clocked: the watchdog's CLI with its clock as far ahead as the emulator's (bench/timer.py)
WATCHDOG = Subject("watchdog", lambda _d: [sys.executable, "-m", "bench.clocked", "check", "--format", "json"],
                   watchdog_outcome)
PER_RESOURCE = Subject("per_resource", lambda _d: [sys.executable, "-m", "bench.per_resource"], _per_resource_outcome)


def _c7n_command(run_dir: Path) -> list[str]:
    policy = run_dir / "policy.json"
    policy.write_text(json.dumps(C7N_POLICY))
    # --cache-period 0: no resource cache carried between runs (custodian caches for 15 min).
    return [str(C7N_VENV / "bin" / "custodian"), "run", "--cache-period", "0", "-s", str(run_dir / "out"), str(policy)]


C7N = Subject("c7n", _c7n_command, _c7n_outcome)

# Environment for the c7n child: c7n-azure's AzureCredential picks ManagedIdentityCredential when
# AZURE_USE_MSI is set (c7n_azure/session.py, constants.ENV_USE_MSI); that credential speaks the
# App Service protocol (IDENTITY_ENDPOINT + IDENTITY_HEADER) the emulator serves. Without it,
# c7n falls back to `az account show`.
C7N_ENV = {"AZURE_USE_MSI": "1"}


def ensure_c7n_venv(log: Callable[[str], None]) -> str:
    """Create bench/.venv-c7n from requirements-c7n.txt when missing; return c7n's version.

    A separate venv because c7n-azure pins azure-* SDK versions that clash with the app's."""
    custodian = C7N_VENV / "bin" / "custodian"
    if not custodian.exists():
        log(f"creating {C7N_VENV.relative_to(REPO)} (c7n and c7n-azure from PyPI; a few minutes) ...")
        subprocess.run([sys.executable, "-m", "venv", str(C7N_VENV)], check=True)
        subprocess.run([str(C7N_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "-r", str(C7N_REQUIREMENTS)], check=True)
    version = subprocess.run([str(C7N_VENV / "bin" / "python"), "-c",
                              "from importlib.metadata import version as v; print(v('c7n'), v('c7n-azure'))"],
                             capture_output=True, text=True, check=True).stdout.split()
    return f"c7n {version[0]}, c7n-azure {version[1]}"
