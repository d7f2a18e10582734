"""When to tell a target about a finding: Alertmanager's lifecycle as pure functions.

Per fingerprint: new -> "firing"; still firing -> a "reminder" once the repeat interval has passed
since the target last accepted a message about it; gone -> "resolved"; found and fixed by the
watchdog in the same sweep -> "fixed". Decisions compare what the target last *accepted*
(NotifyState) with the truth now, so a failed delivery (pending) is simply decided again next
sweep, and an accepted one is never sent twice. The clock is an argument; nothing here does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import AbstractSet, Iterable, Mapping

from watchdog.checks.registry import BLINDS, check
from watchdog.ledger.base import FindingState, NotifyState
from watchdog.models import Finding


class DecisionKind(StrEnum):
    FIRING = "firing"
    REMINDER = "reminder"
    FIXED = "fixed"
    RESOLVED = "resolved"
    DELETED = "deleted"  # its resource is gone (a direct GET answered 404): closed, not "resolved"
    NONE = "none"  # nothing to send


FIRING, REMINDER, FIXED, RESOLVED, DELETED, NONE = DecisionKind


@dataclass(frozen=True)
class Decision:
    fingerprint: str
    kind: DecisionKind
    reason: str
    clear_pending: bool = False  # a "none" that also drops a retry nobody needs any more
    # A reminder: when the target last accepted a message about it. Unchanged by a failed
    # delivery, so it tells one reminder (and its retries) from the next.
    last_told: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DecisionKind(self.kind))  # a plain string is checked here

    @property
    def sends(self) -> bool:
        return self.kind is not DecisionKind.NONE

    @property
    def told_state(self) -> str:
        """The state the target knows once it accepts this message."""
        return "firing" if self.kind in (DecisionKind.FIRING, DecisionKind.REMINDER) else "resolved"


def _at(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "unknown"


def observed(state: FindingState, swept: AbstractSet[str], coverage: Mapping[str, AbstractSet[str]]) -> bool:
    """Whether this sweep saw everything `state`'s check needs on its resource: the resource (or
    the vault, workspace or subscription a blind spot names) was looked at, and every source the
    check `needs` was read for it (coverage; a resource without an entry counts as read whole)."""
    rid = state.resource_id.lower()
    if rid not in swept:
        return False
    seen = coverage.get(rid)
    if seen is None:
        return True
    return needs(state) <= seen


def needs(state: FindingState) -> frozenset[str]:
    """The sources the finding's check needs; a blind spot needs the source it is about."""
    if state.rule == "blind-spot":
        source = next((s for s in sorted(BLINDS, key=len, reverse=True) if state.check.startswith(f"{s}-")), None)
        return frozenset(str(s) for s in BLINDS.get(source, ())) if source else frozenset()
    try:
        return frozenset(str(s) for s in check(state.rule, state.check).needs)
    except KeyError:  # a check no longer declared: resolve as before, on its resource being swept
        return frozenset()


def next_finding_states(
    previous: Mapping[str, FindingState],
    findings: Iterable[Finding],
    fixed: AbstractSet[str],
    swept: AbstractSet[str],
    now: datetime,
    coverage: Mapping[str, AbstractSet[str]] | None = None,
    deleted: AbstractSet[str] = frozenset(),
) -> dict[str, FindingState]:
    """The FindingStates that change this sweep (fingerprint -> new state).

    `fixed`: fingerprints the watchdog fixed and verified this sweep (resolved now).
    `swept`: lower-case resource, vault, workspace and subscription ids this sweep looked at;
    `coverage`: per lower-case resource id, the sources read (watchdog/sweep/coverage.py). A
    firing finding resolves only if it was `observed`, so a blind or partial sweep resolves
    nothing it could not see; `deleted`: resources confirmed gone, whose findings close.
    """
    changed: dict[str, FindingState] = {}
    seen: set[str] = set()
    for f in findings:
        fp = f.fingerprint
        seen.add(fp)
        prev = previous.get(fp)
        ongoing = prev is not None and prev.status == "firing"
        state = FindingState(
            fingerprint=fp,
            rule=f.rule,
            check=f.check,
            severity=f.severity,
            resource_id=f.resource_id,
            subject=f.subject,
            summary=f.summary,
            status="firing",
            firing_since=prev.firing_since if ongoing and prev else now,
            last_seen=now,
        )
        if fp in fixed:
            state = replace(state, status="resolved", resolved_at=now)
        changed[fp] = state
    coverage = coverage or {}
    for fp, prev in previous.items():
        if fp in seen or prev.status != "firing":
            continue
        if prev.resource_id.lower() in deleted or observed(prev, swept, coverage):
            changed[fp] = replace(prev, status="resolved", resolved_at=now)
    return changed


def decide(
    current: Mapping[str, Finding],
    states: Mapping[str, FindingState],
    told: Mapping[str, NotifyState],
    fixed: AbstractSet[str],
    now: datetime,
    repeat: timedelta,
    deleted: AbstractSet[str] = frozenset(),
) -> list[Decision]:
    """One Decision per fingerprint that is routed to the target now or that it was told about.

    `current`: this sweep's findings routed to the target (after its minimum severity).
    `states`: FindingStates after `next_finding_states`. `told`: the target's NotifyStates.
    `repeat`: reminder interval; zero turns reminders off. `deleted`: lower-case ids of resources
    confirmed gone: a told finding of theirs closes as DELETED, never as RESOLVED.
    """
    out = []
    for fp in sorted(set(current) | set(told)):
        d = _decide_one(fp, current.get(fp), states.get(fp), told.get(fp), fp in fixed, now, repeat)
        state = states.get(fp)
        if d.kind is RESOLVED and state is not None and state.resource_id.lower() in deleted:
            d = Decision(fp, DELETED, f"resource deleted (a direct GET answered 404); firing since "
                                      f"{_at(state.firing_since)}")
        out.append(d)
    return out


def _decide_one(
    fp: str,
    finding: Finding | None,
    state: FindingState | None,
    told: NotifyState | None,
    fixed: bool,
    now: datetime,
    repeat: timedelta,
) -> Decision:
    # A NotifyState with no last_notified_at was never accepted: it exists only as "pending".
    last = told.last_notified_at if told else None
    accepted = last is not None
    told_firing = accepted and told is not None and told.last_state == "firing"
    pending = told is not None and told.pending
    since = _at(state.firing_since if state else None)
    retry = "retry after a failed delivery: " if pending else ""

    if finding is not None and fixed:
        if accepted and not told_firing and not pending and last and now - last < repeat:
            # The watchdog keeps fixing the same thing: the audit log has each fix; one message
            # per interval is enough.
            return Decision(fp, NONE, f"fixed again; last message {_at(last)}, within the repeat interval")
        return Decision(fp, FIXED, f"{retry}fixed by the watchdog (firing since {since})")

    if finding is not None:
        if not told_firing:
            if accepted:
                return Decision(fp, FIRING, f"{retry}firing again since {since} after resolved")
            return Decision(fp, FIRING, f"{retry}new: firing since {since}")
        if not repeat:
            return Decision(fp, NONE, f"still firing since {since}; told {_at(last)}; reminders are off")
        due = last + repeat if last else now
        if now >= due:
            return Decision(fp, REMINDER, f"{retry}still firing since {since}; last told {_at(last)}", last_told=last)
        return Decision(fp, NONE, f"still firing; told {_at(last)}; next reminder {_at(due)}")

    # Not routed to this target now: gone, fixed earlier, not looked at, or no longer routed here.
    still_firing = state is not None and state.status == "firing"
    if still_firing and state is not None and state.last_seen < now:
        # next_finding_states stamps last_seen=now on everything found: its resource was skipped.
        # Not observed (blind, deferred or out of scope): never "resolved"; the blind-spot
        # finding of the same sweep says what the watchdog cannot currently see.
        return Decision(fp, NONE, f"cannot currently see it (see this sweep's blind spots); still firing since {since}")
    if told_firing:
        if still_firing:
            return Decision(fp, RESOLVED, f"{retry}no longer routed here (severity or watchdog-notify tag changed)")
        return Decision(fp, RESOLVED, f"{retry}resolved {_at(state.resolved_at if state else now)} (firing since {since})")
    if pending and not still_firing:
        # Its firing message never got through; telling that it fired and resolved loses nothing.
        return Decision(fp, RESOLVED, f"{retry}fired {since} and resolved {_at(state.resolved_at if state else now)}")
    if pending:
        return Decision(fp, NONE, "never delivered and no longer routed here: dropping the retry", True)
    return Decision(fp, NONE, "resolved and already told")
