"""python -m emulator run --scenario demo -- <command ...> | serve --scenario demo --env-file FILE"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .runtime import Emulator, child_env, write_env_file
from .scenario import ScenarioError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Azure in a box for Web PubSub Watchdog.")
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="run a command inside the emulated Azure, then stop")
    run.add_argument("--scenario", default="demo", help="a shipped scenario name or a YAML/JSON file")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- command [args ...]")
    serve = sub.add_parser("serve", help="keep running; write the environment to a file to source")
    serve.add_argument("--scenario", default="demo")
    serve.add_argument("--env-file", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        emulator = Emulator(args.scenario)
    except ScenarioError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    if args.verb == "run":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("run needs a command after --")
        with emulator:
            return subprocess.call(command, env=child_env(emulator))
    with emulator:
        write_env_file(emulator.env, args.env_file)
        print(f"emulator: scenario {emulator.world.name!r} serving; environment in {args.env_file}", file=sys.stderr)
        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
