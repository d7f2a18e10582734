"""One message per sweep per target: what is new, what the watchdog fixed, what still fires, what
resolved. Renderers (teams.py, webhook.py) only format a Message; everything they show is built
and scrubbed here, so a key can reach a payload only by getting past `scrub`.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Mapping

from watchdog.ledger.base import FindingState
from watchdog.models import Finding, Outcome, Severity
from watchdog.notify.lifecycle import Decision

GROUPS = ("firing", "fixed", "reminder", "resolved")  # the order a reader sees them in
TITLES = {"firing": "New", "fixed": "Fixed by the watchdog", "reminder": "Still firing", "resolved": "Resolved"}
PORTAL = "https://portal.azure.com/#@/resource"

_MAX_TEXT = 400
_MAX_EVIDENCE = 8

# Findings arrive sanitized; this is the second lock. Query strings can carry sig=/code=/access
# tokens, connection strings carry AccessKey=, and JWTs are bearer credentials.
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*", re.I)
_KEY_VALUE = re.compile(
    r"\b(AccessKey|SharedAccessKey|AccountKey|AccessToken|sig|code|key|token|secret|password)=([^;&\s\"']+)", re.I
)
_JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")


def scrub(text: str, limit: int = _MAX_TEXT) -> str:
    text = _URL_QUERY.sub(r"\1?<redacted>", text)
    text = _KEY_VALUE.sub(r"\1=<redacted>", text)
    text = _JWT.sub("<redacted-token>", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _scrub_value(v) for k, v in list(value.items())[:_MAX_EVIDENCE]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_scrub_value(v) for v in list(value)[:_MAX_EVIDENCE]]
    if isinstance(value, datetime):
        return value.isoformat()
    return scrub(str(value))


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
    text = f"{action.kind}{change} on {action.subject}: {outcome.status}"
    if outcome.reason:
        text += f" ({outcome.reason})"
    return Remedy(
        kind=action.kind, status=outcome.status, summary=scrub(text), verified=outcome.verified, proof=scrub(outcome.proof)
    )


def _item(
    decision: Decision, finding: Finding | None, state: FindingState | None, outcome: Outcome | None
) -> Item:
    source: Finding | FindingState | None = finding or state
    if source is None:  # the ledger lost the state; say so rather than fail the message
        return Item(decision.fingerprint, decision.kind, Severity.INFO, "unknown", "unknown", "", "",
                    "a finding the ledger no longer describes", scrub(decision.reason), None, None, {}, "", None)
    return Item(
        fingerprint=decision.fingerprint,
        kind=decision.kind,
        severity=source.severity,
        rule=source.rule,
        check=source.check,
        resource_id=source.resource_id,
        subject=scrub(source.subject),
        summary=scrub(source.summary),
        reason=scrub(decision.reason),
        firing_since=state.firing_since if state else None,
        resolved_at=state.resolved_at if state else None,
        evidence=_scrub_value(dict(finding.evidence)) if finding else {},
        guidance=scrub(finding.guidance, 1000) if finding else "",
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
    return Message(target=target, delivery_id=delivery_id(target, everything), sent_at=now, groups=groups)
