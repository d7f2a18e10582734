"""Notifications: tell each target, once per sweep, what changed, like Alertmanager would.

    summary = notify(report, ledger, settings.notify, now)   # -> Report.notifications

Order matters for "nothing lost, nothing twice": finding states are updated first; each
target's message is built from what it last *accepted*; its NotifyStates are written only after
the POST returns, as "notified" on 2xx and "pending" otherwise, so a failed message is decided
(and sent) again next sweep, and an accepted one never is.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable, Iterable

import requests

# The notifiers register themselves on import, before anything reads the registry (targets.KINDS).
from watchdog.notify import teams  # noqa: F401, I001
from watchdog.notify import webhook  # noqa: F401
from watchdog.ledger.base import Ledger, NotifyState
from watchdog.models import Finding, Outcome, OutcomeStatus, Report
from watchdog.notify import registry
from watchdog.notify.delivery import DeliveryResult, DeliveryStatus
from watchdog.notify.lifecycle import Decision, decide, next_finding_states
from watchdog.notify.message import Message, build_message
from watchdog.notify.targets import NotifyConfig, Target

__all__ = ["notify"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Planned:
    target: Target
    decisions: list[Decision]
    message: Message


def _outcomes_by_finding(outcomes: Iterable[Outcome]) -> dict[str, Outcome]:
    # Later outcomes for the same finding supersede earlier ones (planned -> done).
    return {o.action.finding: o for o in outcomes if o.action.finding}


def _swept(report: Report) -> set[str]:
    """What this sweep looked at: its resources, and the subscriptions, vaults and workspaces it
    read whole (every listed subscription when the sweep did not say: a hand-built Report)."""
    ids = {r.id.lower() for r in report.resources}
    if report.read_scopes is None:
        ids.update(f"/subscriptions/{s}".lower() for s in report.subscriptions)
    else:
        ids.update(report.read_scopes)
    return ids


def _route(report: Report, config: NotifyConfig) -> tuple[dict[str, dict[str, Finding]], set[str]]:
    tags = {r.id.lower(): r.tags for r in report.resources}
    routed: dict[str, dict[str, Finding]] = {name: {} for name in config.targets}
    unknown: set[str] = set()
    for f in report.findings:
        names, missing = config.route(f, tags.get(f.resource_id.lower(), {}))
        unknown.update(missing)
        for name in names:
            routed[name][f.fingerprint] = f
    return routed, unknown


def _record(ledger: Ledger, target: str, planned: _Planned, told: dict[str, NotifyState], result: DeliveryResult,
            now: datetime) -> None:
    for d in planned.decisions:
        if not d.sends:
            continue
        if result.status is DeliveryStatus.DELIVERED:
            state = NotifyState(target, d.fingerprint, d.told_state, now, planned.message.delivery_id, pending=False)
        else:
            # Keep what the target last accepted; only mark that a message is still owed.
            prev = told.get(d.fingerprint) or NotifyState(target, d.fingerprint, "resolved")
            state = replace(prev, pending=True)
        ledger.put_notify_state(state)


def notify(
    report: Report,
    ledger: Ledger,
    targets: NotifyConfig,
    now: datetime,
    *,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    status_url: str = "",
    writable: Callable[[], bool] = lambda: True,
) -> list[dict[str, Any]]:
    """Update finding states, send each target its one message, record what was accepted.

    Returns one summary dict per target that had something to send (plus one per unknown
    target named by a watchdog-notify tag), for Report.notifications. `writable`: False once the
    ledger failed; nothing is sent after that, since what is sent must be recorded.
    """
    outcomes = _outcomes_by_finding(report.outcomes)
    fixed = {fp for fp, o in outcomes.items() if o.status == OutcomeStatus.DONE and o.verified}
    previous = ledger.finding_states(open_only=True)
    changed = next_finding_states(previous, report.findings, fixed, _swept(report), now, report.coverage,
                                  report.deleted)
    for state in changed.values():
        ledger.put_finding_state(state)
    states = {**previous, **changed}
    findings = {f.fingerprint: f for f in report.findings}
    routed, unknown = _route(report, targets)

    plans: list[tuple[_Planned, dict[str, NotifyState]]] = []
    for name, target in targets.targets.items():
        told = ledger.notify_states(name, open_only=True)
        decisions = decide(routed[name], states, told, fixed, now, targets.repeat, report.deleted)
        for d in decisions:
            if d.clear_pending:
                ledger.put_notify_state(replace(told[d.fingerprint], pending=False))
        message = build_message(name, decisions, findings, states, outcomes, now, status_url)
        if message is not None:
            plans.append((_Planned(target, decisions, message), told))

    summary: list[dict[str, Any]] = []
    deadline = clock() + targets.deadline_seconds
    for index, (planned, told) in enumerate(plans):
        if not writable():
            summary.append({"target": planned.target.name, "status": "not-sent",
                            "detail": "the ledger failed: not sent, since it could not be recorded"})
            continue
        # Share what is left fairly, so one failing target cannot starve the ones after it.
        share = (deadline - clock()) / (len(plans) - index)
        result = registry.send(planned.target, planned.message, clock() + share, session=session, clock=clock,
                               sleep=sleep)
        _record(ledger, planned.target.name, planned, told, result, now)
        log.info("notification to %s: %s (%s)", planned.target.name, result.status, result.detail)
        summary.append(
            {
                "target": planned.target.name,
                "kind": planned.target.kind,
                "status": result.status,
                "http_status": result.http_status,
                "attempts": result.attempts,
                "detail": result.detail,
                "delivery_id": planned.message.delivery_id,
                "counts": planned.message.counts,
                "items": [{"fingerprint": d.fingerprint, "kind": d.kind, "reason": d.reason}
                          for d in planned.decisions if d.sends],
            }
        )
    for name in sorted(unknown):
        summary.append(
            {
                "target": name,
                "status": "unknown-target",
                "detail": "named by a watchdog-notify tag but not in WATCHDOG_NOTIFY_TARGETS",
            }
        )
    return summary
