"""python -m bench.profiled PROFILE_OUT -- ARGS...: `python -m bench.clocked ARGS` under cProfile in
every thread (the sweep works on thread pools; cProfile alone sees only the main thread waiting),
the threads' statistics merged into PROFILE_OUT (pstats format). `top` reads it back."""
from __future__ import annotations

import cProfile
import pstats
import sys
import threading
from pathlib import Path
from typing import Any

TOP = 10


def main(argv: list[str]) -> int:
    out, args = Path(argv[0]), argv[argv.index("--") + 1:]
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start(*_: Any) -> None:  # the first event in a new thread: give it a profiler of its own
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        profile.enable()

    from watchdog import cli

    from . import offset

    offset.apply()

    threading.setprofile(start)
    main_profile = cProfile.Profile()
    main_profile.enable()
    try:
        code = cli.main(args)
    finally:
        main_profile.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        stats = pstats.Stats(main_profile)
        for profile in profiles:
            stats.add(profile)
        stats.dump_stats(out)
    return code


def _name(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":
        return name
    parts = Path(path).parts
    short = "/".join(parts[parts.index("site-packages") + 1:] if "site-packages" in parts else parts[-2:])
    return f"{short}:{line}({name})"


def top(path: Path, key: str = "cumulative", n: int = TOP) -> list[dict[str, Any]]:
    """The `n` functions with the most time by `key` (cumulative or tottime), summed over threads."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    index = 3 if key == "cumulative" else 2
    rows = sorted(stats.items(), key=lambda item: item[1][index], reverse=True)[:n]
    return [{"function": _name(func), "calls": s[1], "tottime_s": round(s[2], 3), "cumulative_s": round(s[3], 3)}
            for func, s in rows]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
