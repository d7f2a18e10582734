"""python -m bench [--quick | --sizes 10,100,1000,5000] [--no-baselines | --baselines-max N] [--no-c7n]
                 [--no-cold-start] [--no-write] | --render RESULT_JSON ... | --events [--trials N] [--no-write]

Measures the watchdog's sweeps against generated subscriptions in the emulator, beside the
per-resource way and Cloud Custodian; writes bench/results/<date>-<machine>.json and the table in
bench/README.md. See bench/README.md for the method.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import harness, results


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes as comma-separated whole numbers") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be at least 1")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--sizes", type=_sizes, default=harness.SIZES,
                       help="comma-separated resource counts (default 10,100,1000,5000)")
    group.add_argument("--quick", action="store_const", dest="sizes", const=harness.QUICK_SIZES,
                       help="sizes 10 and 100 only")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--no-baselines", action="store_true", help="measure the watchdog only")
    parser.add_argument("--baselines-max", type=int, default=harness.BASELINES_MAX,
                        help=f"run the baselines only up to this size (default {harness.BASELINES_MAX:,}: "
                             "the targets compare at 1,000, and at 5,000 each baseline spends minutes in ARM's "
                             "read budget)")
    parser.add_argument("--stale-ratio", type=float, default=harness.STALE_RATIO,
                        help=f"share of bound secrets holding a stale key (default {harness.STALE_RATIO})")
    parser.add_argument("--no-c7n", action="store_true", help="skip Cloud Custodian (and its venv)")
    parser.add_argument("--no-cold-start", action="store_true", help="skip the cold-start measurements")
    parser.add_argument("--no-write", action="store_true", help="print the table; write no result files")
    parser.add_argument("--render", nargs="+", type=Path, metavar="RESULT_JSON",
                        help="measure nothing: put these result files' tables in bench/README.md")
    parser.add_argument("--events", action="store_true",
                        help="measure event-driven latency (regenerate -> Teams card) against the timer instead")
    parser.add_argument("--trials", type=int, default=20, help="--events: trials (default 20)")
    args = parser.parse_args(argv)
    if args.events:
        from . import events

        result = events.run(args.trials, log=lambda m: print(m, file=sys.stderr, flush=True))
        if not args.no_write:
            events.update_readme(result)
        print(events.markdown(result))
        return 0
    if args.render:
        runs = [json.loads(path.read_text()) for path in args.render]
        results.update_readme(*runs)
        print("\n\n".join(results.markdown(r) for r in runs))
        return 0

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = harness.run(args.sizes, args.seed, baselines_max=0 if args.no_baselines else args.baselines_max,
                         c7n=not args.no_c7n, cold=not args.no_cold_start, log=log, stale_ratio=args.stale_ratio)
    if not args.no_write:
        log(f"results: {results.write_json(result)}")
        results.update_readme(result)
    print(results.markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
