"""One message per sweep per target: what is new, what the watchdog fixed, what still fires, what
resolved. Renderers (teams.py, webhook.py) only format a Message; everything they show is built
and scrubbed here, so a key can reach a payload only by getting past `scrub`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Mapping

from watchdog.ledger.base import FindingState
from watchdog.models import Finding, Outcome, Severity
from watchdog.notify.lifecycle import Decision
from watchdog.redact import scrub
from watchdog.links import status_link

GROUPS = ("firing", "fixed", "reminder", "resolved", "deleted")  # the order a reader sees them in
TITLES = {"firing": "New", "fixed": "Fixed by the watchdog", "reminder": "Still firing", "resolved": "Resolved",
          "deleted": "Closed: resource deleted"}
PORTAL = "https://portal.azure.com/#@/resource"

_MAX_TEXT = 400
_MAX_EVIDENCE = 8


def _short(text: str, limit: int = _MAX_TEXT) -> str:
    """Findings arrive sanitized; this is the second lock (watchdog.redact.scrub), and a length cap."""
    return scrub(text, limit)


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return _short(value)
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _scrub_value(v) for k, v in list(value.items())[:_MAX_EVIDENCE]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_scrub_value(v) for v in list(value)[:_MAX_EVIDENCE]]
    if isinstance(value, datetime):
        return value.isoformat()
    return _short(str(value))


def portal_link(resource_id: str) -> str:
    return f"{PORTAL}{resource_id}"


@dataclass(frozen=True)
class Remedy:
    """What the watchdog did (or would do) about a finding this sweep."""

    kind: str  # secret-sync, scale
    status: str  # planned, done, skipped, failed
    summary: str
    verified: bool | None
    proof: str


@dataclass(frozen=True)
class Item:
    fingerprint: str
    kind: str  # firing, fixed, reminder, resolved
    severity: Severity
    rule: str
    check: str
    resource_id: str
    subject: str
    summary: str
    reason: str
    firing_since: datetime | None
    resolved_at: datetime | None
    evidence: Mapping[str, Any]
    guidance: str
    remedy: Remedy | None
    last_told: datetime | None = None  # reminders only: see Decision.last_told

    @property
    def resource_name(self) -> str:
        return self.resource_id.rstrip("/").rsplit("/", 1)[-1]

    @property
    def portal_url(self) -> str:
        return portal_link(self.resource_id)

    @property
    def episode(self) -> str:
        """Identifies this occurrence: the same finding firing again later is a new episode."""
        since = self.firing_since.isoformat() if self.firing_since else ""
        return f"{self.fingerprint}:{since}"


@dataclass(frozen=True)
class Group:
    kind: str
    items: tuple[Item, ...]  # those shown
    total: int  # shown + omitted

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    @property
    def omitted(self) -> int:
        return self.total - len(self.items)


@dataclass(frozen=True)
class Message:
    target: str
    delivery_id: str
    sent_at: datetime
    groups: tuple[Group, ...]  # one per GROUPS entry, empty ones included
    status_url: str = ""  # WATCHDOG_STATUS_URL: the status page, linked per resource; empty: no links

    def status_link(self, resource_name: str | None = None) -> str | None:
        return status_link(self.status_url, resource_name) if self.status_url else None

    @property
    def counts(self) -> dict[str, int]:
        return {g.kind: g.total for g in self.groups}

    @property
    def headline(self) -> str:
        parts = [f"{g.total} {g.title.lower()}" for g in self.groups if g.total]
        return "Web PubSub Watchdog: " + ", ".join(parts)

    @property
    def worst(self) -> Severity | None:
        live = [i.severity for g in self.groups if g.kind in ("firing", "reminder") for i in g.items]
        return max(live, default=None)

    def truncated(self, limit: int) -> "Message":
        """At most `limit` items per group; the totals still count everything."""
        return replace(self, groups=tuple(replace(g, items=g.items[:limit]) for g in self.groups))


def _remedy(outcome: Outcome) -> Remedy:
    action = outcome.action
    change = ""
    if "from" in action.params and "to" in action.params:
        change = f" {action.params['from']} → {action.params['to']}"
    elif "stage" in action.params:  # a rotation: the stage it is in (its reason says what it waits for)
        change = f" at stage {action.params['stage']}"
    text = f"{action.kind}{change} on {action.subject}: {outcome.status}"
    if outcome.reason:
        text += f" ({outcome.reason})"
    return Remedy(
        kind=action.kind, status=outcome.status, summary=_short(text), verified=outcome.verified, proof=_short(outcome.proof)
    )


def _item(
    decision: Decision, finding: Finding | None, state: FindingState | None, outcome: Outcome | None
) -> Item:
    source: Finding | FindingState | None = finding or state
    if source is None:  # the ledger lost the state; say so rather than fail the message
        return Item(decision.fingerprint, decision.kind, Severity.INFO, "unknown", "unknown", "", "",
                    "a finding the ledger no longer describes", _short(decision.reason), None, None, {}, "", None)
    return Item(
        fingerprint=decision.fingerprint,
        kind=decision.kind,
        severity=source.severity,
        rule=source.rule,
        check=source.check,
        resource_id=source.resource_id,
        subject=_short(source.subject),
        summary=_short(source.summary),
        reason=_short(decision.reason),
        firing_since=state.firing_since if state else None,
        resolved_at=state.resolved_at if state else None,
        evidence=_scrub_value(dict(finding.evidence)) if finding else {},
        guidance=_short(finding.guidance, 1000) if finding else "",
        remedy=_remedy(outcome) if outcome else None,
        last_told=decision.last_told,
    )


def delivery_id(target: str, items: Iterable[Item]) -> str:
    """Same target + same items (kind and episode; for a reminder, also when the target was last
    told) -> same id, so a receiver drops a resend but not the next reminder."""
    raw = "\n".join(sorted(f"{i.kind}|{i.episode}" + (f"|{i.last_told.isoformat()}" if i.last_told else "")
                            for i in items))
    return hashlib.sha256(f"{target}\n{raw}".encode()).hexdigest()[:32]


def build_message(
    target: str,
    decisions: Iterable[Decision],
    findings: Mapping[str, Finding],
    states: Mapping[str, FindingState],
    outcomes: Mapping[str, Outcome],
    now: datetime,
    status_url: str = "",
) -> Message | None:
    """The message for one target, or None when no decision sends anything."""
    by_kind: dict[str, list[Item]] = {k: [] for k in GROUPS}
    for d in decisions:
        if d.sends:
            fp = d.fingerprint
            by_kind[d.kind].append(_item(d, findings.get(fp), states.get(fp), outcomes.get(fp)))
    everything = [i for items in by_kind.values() for i in items]
    if not everything:
        return None
    groups = tuple(
        # Worst first, then by resource: the top of a truncated group is what matters most.
        Group(k, tuple(sorted(v, key=lambda i: (-i.severity, i.resource_id.lower(), i.rule, i.subject))), len(v))
        for k, v in by_kind.items()
    )
    return Message(target=target, delivery_id=delivery_id(target, everything), sent_at=now, groups=groups,
                   status_url=status_url)
