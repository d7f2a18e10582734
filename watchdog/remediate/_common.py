"""What every executor shares: outcome and audit-entry construction, and failure text free of secrets."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

from watchdog.ledger.base import AuditEntry, Ledger
from watchdog.models import Action, Outcome, OutcomeStatus
from watchdog.redact import scrub

if TYPE_CHECKING:
    from watchdog.remediate.plan import Plan

WATCHDOG = "webpubsub-watchdog"  # the value of tag watchdog-written-by


def outcome(action: Action, status: OutcomeStatus, reason: str, now: datetime, *, guard: str | None = None,
            before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
            verified: bool | None = None, proof: str = "") -> Outcome:
    return Outcome(action=action, status=status, reason=reason, before=dict(before or {}),
                   after=dict(after or {}), verified=verified, proof=proof, at=now, guard=guard)


def failure(exc: BaseException) -> str:
    """Why a call failed, as status, code and the service's message: SDK exception texts can carry
    URLs with query strings, so only these parts are kept, and scrubbed."""
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or getattr(exc, "reason", None) or type(exc).__name__
    head = " ".join(str(p) for p in (status, code) if p)
    return scrub(" ".join((f"{head}: {message}" if head else str(message)).split()), limit=300)


def record(ledger: Ledger, entry_id: str, sweep_id: str, result: Outcome) -> None:
    """The audit trail of an attempted action. `before`/`after` hold versions, counts and
    fingerprints only: the executors never put a key or connection string in an Outcome."""
    a = result.action
    ledger.record_action(AuditEntry(
        id=entry_id, at=result.at, resource_id=a.resource_id, kind=a.kind, subject=a.subject,
        reason=result.reason or a.reason, status=result.status, before=dict(result.before),
        after=dict(result.after), verified=result.verified, proof=result.proof, sweep_id=sweep_id,
    ))


def planned(action: Action, now: datetime) -> Outcome:
    return outcome(action, OutcomeStatus.PLANNED, action.reason, now)


def skip(out: Plan, action: Action, guard: str, reason: str) -> None:
    """A planned action a guard stopped, named by `guard` (watchdog.remediate.guards)."""
    out.skipped.append(Outcome(action=action, status=OutcomeStatus.SKIPPED, reason=reason, guard=guard))
