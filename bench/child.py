"""Run one measured child process: wall time, CPU time and peak memory of that child alone."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

LAUNCHER = Path(__file__).resolve().parent / "launch.py"


@dataclass
class ChildResult:
    exit_code: int
    wall_s: float
    cpu_s: float  # user + system of the child
    peak_rss_mb: float  # ru_maxrss of the child
    stdout: str
    stderr: str
    timed_out: bool = False


def run(cmd: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float) -> ChildResult:
    """Run `cmd` through bench/launch.py (see there why) in its own session, so a timeout can end
    the whole tree. Output goes to files so a chatty child cannot block on a pipe."""
    out_path, err_path, usage_path = cwd / "stdout.txt", cwd / "stderr.txt", cwd / "usage.json"
    usage_path.unlink(missing_ok=True)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-I", "-S", str(LAUNCHER), str(usage_path), *cmd], env=dict(env),
                                cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            timed_out = True
    usage = json.loads(usage_path.read_text()) if usage_path.exists() else {
        "exit_code": -9, "wall_s": timeout_s, "cpu_s": 0.0, "maxrss_kib": 0}
    return ChildResult(exit_code=usage["exit_code"], wall_s=round(usage["wall_s"], 3), cpu_s=round(usage["cpu_s"], 3),
                       peak_rss_mb=round(usage["maxrss_kib"] / 1024, 1),  # Linux reports KiB
                       stdout=out_path.read_text(errors="replace"), stderr=err_path.read_text(errors="replace"),
                       timed_out=timed_out)
