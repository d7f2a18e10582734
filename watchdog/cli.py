"""python -m watchdog check: the same sweep as the timer, on demand, with exit codes to gate on.
python -m watchdog rotate RESOURCE [--plan]: start a staged key rotation (or take its next step).

Exit codes: 0 healthy (info only), 1 warnings, 2 critical, 3 bad usage, 4 configuration error.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from typing import Sequence

from . import report as report_mod
from .scope import Scope, parse_resource, parse_subscription
from .settings import ConfigError, load


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
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = sub.add_parser("check", help="sweep now and print the report",
                           description="Sweep the subscriptions (or some resources) and print the report. "
                                       "Exit codes: 0 healthy, 1 warnings, 2 critical, 3 bad usage, 4 configuration.")
    check.add_argument("--subscription", action="append", default=[], type=_arg(parse_subscription),
                       help="subscription id to sweep (repeatable; default: the configured ones)")
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
    check.add_argument("--color", action="store_true", help="colour the text report")
    check.add_argument("--verbose", "-v", action="store_true", help="log each stage to stderr")
    rotate = sub.add_parser("rotate", help="start a staged key rotation now, or take its next step",
                            description="Start a staged rotation of RESOURCE's keys (or resume one) and take at most "
                                        "one step; the timer takes the next ones when WATCHDOG_ROTATE=on, or run this "
                                        "again. --plan prints the schedule and changes nothing.")
    rotate.add_argument("resource", type=_arg(parse_resource), help="the resource, by ARM id or name")
    rotate.add_argument("--plan", action="store_true", help="print the whole schedule with dates; change nothing")
    rotate.add_argument("--ledger", choices=("sqlite", "table"), default=None)
    rotate.add_argument("--format", choices=report_mod.FORMATS, default="text")
    rotate.add_argument("--verbose", "-v", action="store_true", help="log each stage to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        settings, _ = load()  # the notification targets ride along in settings.notify
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
    print(report_mod.render(report, args.format, color=args.color))
    return report_mod.exit_code(report)
