"""The notification lifecycle, table-driven, with the clock passed in."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import finding
from watchdog.ledger.base import FindingState, NotifyState
from watchdog.models import Finding, Severity
from watchdog.notify.lifecycle import decide, next_finding_states

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=5)
H4 = timedelta(hours=4)
F = finding(name="chat", summary="92% of the connection cap")
RES = F.resource_id
FP = F.fingerprint


def state(status: str = "firing", since: datetime = T0, seen: datetime = NOW, resolved: datetime | None = None):
    return FindingState(
        fingerprint=FP, rule=F.rule, check=F.check, severity=F.severity, resource_id=RES, subject=F.subject,
        summary=F.summary, status=status, firing_since=since, last_seen=seen,
        resolved_at=resolved if status == "resolved" else None,
    )


def told(last_state: str = "firing", at: datetime | None = T0, pending: bool = False) -> NotifyState:
    return NotifyState(target="ops", fingerprint=FP, last_state=last_state, last_notified_at=at, pending=pending)


FIRING = state()
RESOLVED = state("resolved", resolved=NOW)
UNSEEN = state(seen=NOW - timedelta(minutes=5))  # firing, but its resource was not swept now

CASES = [
    # id, current?, finding state, notify state, fixed?, repeat, expected kind, reason contains
    ("new", True, state(since=NOW), None, False, H4, "firing", "new"),
    ("told-not-due", True, FIRING, told(at=NOW - timedelta(hours=1)), False, H4, "none", "next reminder"),
    ("told-exactly-due", True, FIRING, told(at=NOW - H4), False, H4, "reminder", "still firing"),
    ("told-overdue", True, FIRING, told(at=T0), False, H4, "reminder", "still firing"),
    ("reminders-off", True, FIRING, told(at=T0), False, timedelta(0), "none", "reminders are off"),
    ("pending-first-firing", True, FIRING, told("resolved", at=None, pending=True), False, H4, "firing", "retry"),
    ("pending-reminder", True, FIRING, told(at=T0, pending=True), False, H4, "reminder", "retry"),
    ("back-after-resolved", True, state(since=NOW), told("resolved", at=T0), False, H4, "firing", "again"),
    ("gone-told-firing", False, RESOLVED, told(at=T0), False, H4, "resolved", "resolved"),
    ("gone-pending-resolved", False, RESOLVED, told(at=T0, pending=True), False, H4, "resolved", "retry"),
    ("gone-told-resolved", False, RESOLVED, told("resolved", at=T0), False, H4, "none", "already told"),
    ("gone-never-delivered", False, RESOLVED, told("resolved", at=None, pending=True), False, H4, "resolved", "fired"),
    ("not-routed-told-firing", False, FIRING, told(at=T0), False, H4, "resolved", "no longer routed"),
    ("not-routed-never-delivered", False, FIRING, told("resolved", at=None, pending=True), False, H4, "none", "dropping"),
    ("not-swept", False, UNSEEN, told(at=T0), False, H4, "none", "cannot currently see it"),
    ("not-swept-pending", False, UNSEEN, told("resolved", at=None, pending=True), False, H4, "none", "cannot currently see it"),
    ("fixed-new", True, state("resolved", since=NOW, resolved=NOW), None, True, H4, "fixed", "fixed"),
    ("fixed-told-firing", True, RESOLVED, told(at=T0), True, H4, "fixed", "fixed"),
    ("fixed-again-soon", True, RESOLVED, told("resolved", at=NOW - timedelta(hours=1)), True, H4, "none", "fixed again"),
    ("fixed-again-later", True, RESOLVED, told("resolved", at=NOW - H4), True, H4, "fixed", "fixed"),
    ("fixed-pending", True, RESOLVED, told("resolved", at=None, pending=True), True, H4, "fixed", "retry"),
]


@pytest.mark.parametrize(
    "current, fstate, nstate, fixed, repeat, kind, reason", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(current, fstate, nstate, fixed, repeat, kind, reason):
    decisions = decide(
        {FP: F} if current else {},
        {FP: fstate},
        {FP: nstate} if nstate else {},
        {FP} if fixed else set(),
        NOW,
        repeat,
    )
    assert len(decisions) == 1
    d = decisions[0]
    assert (d.fingerprint, d.kind) == (FP, kind), d.reason
    assert reason in d.reason
    assert d.clear_pending == (kind == "none" and "dropping" in reason)


def test_decide_covers_current_and_told_fingerprints_only():
    other = Finding("posture", "no-logs", Severity.INFO, RES, RES, "no diagnostic settings").fingerprint
    old = NotifyState(target="ops", fingerprint=other, last_state="resolved", last_notified_at=T0)
    decisions = decide({FP: F}, {FP: FIRING}, {other: old}, set(), NOW, H4)
    assert {d.fingerprint: d.kind for d in decisions} == {FP: "firing", other: "none"}


def test_told_state_after_acceptance():
    (d,) = decide({FP: F}, {FP: FIRING}, {}, set(), NOW, H4)
    assert d.told_state == "firing"
    (d,) = decide({}, {FP: RESOLVED}, {FP: told()}, set(), NOW, H4)
    assert d.told_state == "resolved"


# --- finding states ----------------------------------------------------------------------

SWEPT = {RES.lower()}


def test_new_finding_starts_firing_now():
    changed = next_finding_states({}, [F], set(), SWEPT, NOW)
    s = changed[FP]
    assert (s.status, s.firing_since, s.last_seen, s.resolved_at) == ("firing", NOW, NOW, None)


def test_ongoing_finding_keeps_firing_since_and_takes_new_severity():
    worse = Finding(F.rule, F.check, Severity.CRITICAL, RES.upper(), F.subject, "99% of the cap")
    assert worse.fingerprint == FP
    s = next_finding_states({FP: state(seen=T0)}, [worse], set(), SWEPT, NOW)[FP]
    assert (s.firing_since, s.last_seen, s.severity, s.summary) == (T0, NOW, Severity.CRITICAL, "99% of the cap")


def test_gone_finding_resolves_only_if_its_resource_was_swept():
    assert next_finding_states({FP: FIRING}, [], set(), SWEPT, NOW)[FP].resolved_at == NOW
    assert next_finding_states({FP: FIRING}, [], set(), set(), NOW) == {}


def test_already_resolved_finding_is_untouched_and_can_fire_again():
    assert next_finding_states({FP: RESOLVED}, [], set(), SWEPT, NOW) == {}
    again = next_finding_states({FP: state("resolved", resolved=T0)}, [F], set(), SWEPT, NOW)[FP]
    assert (again.status, again.firing_since, again.resolved_at) == ("firing", NOW, None)


def test_fixed_finding_resolves_in_the_same_sweep():
    s = next_finding_states({FP: state(seen=T0)}, [F], {FP}, SWEPT, NOW)[FP]
    assert (s.status, s.firing_since, s.resolved_at) == ("resolved", T0, NOW)
