"""python -m watchdog check: the same sweep as the timer, on demand, with exit codes to gate on.
python -m watchdog rotate RESOURCE [--plan]: start a staged key rotation (or take its next step).

Exit codes: 0 healthy (info only), 1 warnings, 2 critical, 3 bad usage, 4 configuration error,
5 the watchdog itself failed (an unexpected exception: a CI gate must never read a crash as a pass).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from dataclasses import replace
from typing import Mapping, Sequence, TextIO

from . import __version__
from . import report as report_mod
from .scope import Scope, parse_resource, parse_subscription
from .settings import ConfigError, load

EXIT_CRASH = 5


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2, which means "critical" here
        self.print_usage(sys.stderr)
        self.exit(report_mod.EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _arg(parse):  # noqa: ANN001, ANN202 - argparse type adapter keeping our messages
    def convert(text: str) -> str:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m watchdog", description="Web PubSub Watchdog")
    parser.add_argument("--version", action="version", version=f"watchdog {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = sub.add_parser("check", help="sweep now and print the report",
                           description="Sweep the subscriptions (or some resources) and print the report. "
                                       "Exit codes: 0 healthy, 1 warnings, 2 critical, 3 bad usage, "
                                       "4 configuration, 5 the watchdog itself failed.")
    check.add_argument("--subscription", action="append", default=[], type=_arg(parse_subscription),
                       help="subscription id to sweep (repeatable; default: the configured ones; "
                            "enough on its own, AZURE_SUBSCRIPTION_ID is then not needed)")
    check.add_argument("--resource", action="append", default=[], type=_arg(parse_resource),
                       help="only this resource, by ARM id or name (repeatable)")
    check.add_argument("--format", choices=report_mod.FORMATS, default="text")
    acting = check.add_mutually_exclusive_group()
    acting.add_argument("--plan", action="store_true",
                        help="show what remediation would do; change nothing (kinds set to off stay off)")
    acting.add_argument("--remediate", action="store_true",
                        help="act: every remediation kind not set to off runs for real")
    check.add_argument("--notify", action="store_true", help="send notifications as the timer sweep does")
    check.add_argument("--ledger", choices=("sqlite", "table"), default=None,
                       help="state backend (default sqlite, at WATCHDOG_SQLITE_PATH)")
    check.add_argument("--color", action=argparse.BooleanOptionalAction, default=None,
                       help="colour the text report (default: when stdout is a terminal and NO_COLOR is unset)")
    check.add_argument("--verbose", "-v", action="store_true", help="log each stage to stderr")
    check.add_argument("--debug", action="store_true", help="on an internal error, print the traceback")
    rotate = sub.add_parser("rotate", help="start a staged key rotation now, or take its next step",
                            description="Start a staged rotation of RESOURCE's keys (or resume one) and take at most "
                                        "one step; the timer takes the next ones when WATCHDOG_ROTATE=on, or run this "
                                        "again. --plan prints the schedule and changes nothing.")
    rotate.add_argument("resource", type=_arg(parse_resource), help="the resource, by ARM id or name")
    rotate.add_argument("--plan", action="store_true", help="print the whole schedule with dates; change nothing")
    rotate.add_argument("--ledger", choices=("sqlite", "table"), default=None)
    rotate.add_argument("--format", choices=report_mod.FORMATS, default="text")
    rotate.add_argument("--verbose", "-v", action="store_true", help="log each stage to stderr")
    rotate.add_argument("--debug", action="store_true", help="on an internal error, print the traceback")
    return parser


def use_color(flag: bool | None, stream: TextIO, env: Mapping[str, str]) -> bool:
    """An explicit --color/--no-color wins; otherwise colour a terminal unless NO_COLOR is set
    (https://no-color.org: any non-empty value)."""
    if flag is not None:
        return flag
    return not env.get("NO_COLOR") and stream.isatty()


def crash_line(exc: BaseException) -> str:
    """One line naming the exception's type and where it was raised, never its message (an SDK
    error's text can carry a URL with a key or a connection string)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = frames[-1] if frames else None  # where it was raised, be that the watchdog or a library
    place = f" in {where.name} ({os.path.basename(where.filename)}:{where.lineno})" if where else ""
    return (f"watchdog: internal error: {type(exc).__module__}.{type(exc).__qualname__}{place}; "
            "run with --debug for the traceback (exit 5)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes exit 5
        print(crash_line(exc), file=sys.stderr)
        if args.debug:
            traceback.print_exception(exc, file=sys.stderr)
        return EXIT_CRASH


def _run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if getattr(args, "subscription", None):  # the subscriptions named on the command line are the scope
        env["WATCHDOG_SUBSCRIPTIONS"] = ",".join(args.subscription)
    try:
        settings, _ = load(env)  # the notification targets ride along in settings.notify
        settings = replace(settings, ledger=args.ledger or "sqlite")
        from .sweep import run_sweep  # the SDKs load only when a sweep runs
        from .ledger import open_ledger
        ledger = open_ledger(settings)
    except ConfigError as exc:
        print(f"watchdog: configuration error: {exc}", file=sys.stderr)
        return report_mod.EXIT_CONFIG
    with ledger:
        if args.command == "rotate":
            from .rotate_cli import rotate
            return rotate(settings, ledger, args.resource, args.plan, args.format)
        report = run_sweep(settings, Scope(tuple(args.subscription), tuple(args.resource)),
                           settings.modes("on" if args.remediate else "plan" if args.plan else "off"),
                           ledger=ledger, notify=args.notify)
    print(report_mod.render(report, args.format, color=use_color(args.color, sys.stdout, os.environ)))
    return report_mod.exit_code(report)
