"""Run a command and write its own wall time, CPU time and peak memory as JSON (stdlib only).

    python -I -S bench/launch.py RESULT.json CMD [ARG ...]

Why a launcher: Linux carries a process's peak RSS across fork and exec, so a child forked from
the harness (which hosts the emulator) would report the harness's memory as its own peak. Forked
from this small process instead, the measured command's ru_maxrss is its own (floor: this
launcher's few MB).
"""
import json
import os
import subprocess
import sys
import time


def main() -> int:
    result_path, cmd = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    with open(result_path, "w") as f:
        json.dump({"exit_code": code, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                   "maxrss_kib": usage.ru_maxrss}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
