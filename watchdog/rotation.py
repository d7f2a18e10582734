"""Staged key rotation as a state machine: pure, no I/O (the executor is watchdog/remediate/rotate.py).

The safe order, one step per sweep, each only when the previous one is proven:

    secrets-to-secondary  write every bound secret with the secondary connection string, prove it
                          on the data plane (404), refresh the apps reading it, see them resolve it
    grace-after-secondary wait WATCHDOG_ROTATE_GRACE_MINUTES with no REST 401 in the resource logs
                          (the watchdog's own proofs excluded) and no app still on another version;
                          then: regenerate the primary key
    secrets-to-primary    the same with the new primary connection string
    grace-after-primary   the same wait; then: regenerate the secondary key
    done

A key that changed under the rotation (someone else regenerated it), a failed proof, an app that
does not resolve the written version, 401s during the grace, or logs that cannot be read pause it:
the record says what it waits for, the rotation rule reports it, and each sweep re-checks. A key
changed by someone else stays paused until an operator starts a new rotation. The record holds
stages, times, versions and key fingerprints only: never a key.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from watchdog.consumers import RESOLVED, Consumer, holdouts

KIND = "rotate"  # the remediation kind, and the ledger cache kind of the records
RETENTION = timedelta(days=90)  # the activity log keeps this much: an older regeneration is unknown


class Stage(enum.StrEnum):
    TO_SECONDARY = "secrets-to-secondary"
    GRACE_SECONDARY = "grace-after-secondary"
    TO_PRIMARY = "secrets-to-primary"
    GRACE_PRIMARY = "grace-after-primary"
    DONE = "done"


class Step(enum.StrEnum):
    """What a sweep does in a stage (the audit trail's subject)."""

    WRITE_SECONDARY = "write-secondary"
    REGENERATE_PRIMARY = "regenerate-primary"
    WRITE_PRIMARY = "write-primary"
    REGENERATE_SECONDARY = "regenerate-secondary"


# stage -> (its step, the stage after the step, the key the step writes or regenerates)
_STEPS: dict[Stage, tuple[Step, Stage, str]] = {
    Stage.TO_SECONDARY: (Step.WRITE_SECONDARY, Stage.GRACE_SECONDARY, "secondary"),
    Stage.GRACE_SECONDARY: (Step.REGENERATE_PRIMARY, Stage.TO_PRIMARY, "primary"),
    Stage.TO_PRIMARY: (Step.WRITE_PRIMARY, Stage.GRACE_PRIMARY, "primary"),
    Stage.GRACE_PRIMARY: (Step.REGENERATE_SECONDARY, Stage.DONE, "secondary"),
}
WRITES = (Stage.TO_SECONDARY, Stage.TO_PRIMARY)
GRACES = (Stage.GRACE_SECONDARY, Stage.GRACE_PRIMARY)


class Pause(enum.StrEnum):
    """Why a rotation stopped; each is a guard name in outcomes too."""

    KEY_CHANGED = "key-changed"  # a key is not what the rotation left it: someone else regenerated it
    PROOF_FAILED = "proof-failed"  # the written connection string was not accepted on the data plane
    HOLDOUT = "consumer-holdout"  # an app does not resolve the written version (pinned, failed, behind)
    UNAUTHORIZED = "rest-401"  # REST calls were rejected during the grace: someone still uses the old key
    LOGS_UNREADABLE = "logs-unreadable"  # no resource logs to prove the grace was clean
    KEYS_UNREADABLE = "keys-unreadable"  # listKeys failed: a key change cannot be ruled out


@dataclass(frozen=True)
class Rotation:
    """One resource's rotation, as the ledger keeps it."""

    resource_id: str
    stage: Stage
    started_at: datetime
    stage_since: datetime
    keys: tuple[str, str] | None = None  # fingerprints (primary, secondary) the rotation expects now
    written: Mapping[str, str] = field(default_factory=dict)  # secret URI -> version written by the last write step
    paused: str = ""  # a Pause value; "" = running
    waiting: str = ""  # what it waits for, for people (cards, the CLI)
    finished_at: datetime | None = None
    last_step_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.stage != Stage.DONE

    def to_payload(self) -> dict[str, Any]:
        return {"resource_id": self.resource_id, "stage": str(self.stage), "started_at": self.started_at.isoformat(),
                "stage_since": self.stage_since.isoformat(), "keys": list(self.keys) if self.keys else None,
                "written": dict(self.written), "paused": self.paused, "waiting": self.waiting,
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "last_step_at": self.last_step_at.isoformat() if self.last_step_at else None}

    @classmethod
    def from_payload(cls, resource_id: str, p: Mapping[str, Any]) -> Rotation:
        def when(v: Any) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        return cls(p.get("resource_id") or resource_id, Stage(p["stage"]), datetime.fromisoformat(p["started_at"]),
                   datetime.fromisoformat(p["stage_since"]), tuple(p["keys"]) if p.get("keys") else None,  # type: ignore[arg-type]
                   dict(p.get("written") or {}), p.get("paused", ""), p.get("waiting", ""),
                   when(p.get("finished_at")), when(p.get("last_step_at")))


def start(resource_id: str, now: datetime) -> Rotation:
    return Rotation(resource_id, Stage.TO_SECONDARY, now, now,
                    waiting=f"step {Step.WRITE_SECONDARY}: the next sweep writes the secondary connection string")


# --- due ----------------------------------------------------------------------------------------


def last_regenerated(activity_log: datetime | None, record: Rotation | None) -> datetime | None:
    """When a key was last regenerated as far as anyone can tell: the activity log's last
    regenerateKey (90 days) or the ledger's last finished rotation, the later one. None = unknown."""
    ours = record.finished_at if record is not None else None
    known = [t for t in (activity_log, ours) if t is not None]
    return max(known) if known else None


def due(regenerated_at: datetime | None, days: int, now: datetime) -> bool | None:
    """True when the keys are older than `days` (the age since the last regeneration of either
    key, a lower bound of the older key's age); None when the age is unknown. 0 days: never."""
    if days <= 0:
        return False
    if regenerated_at is None:
        return None
    return now - regenerated_at >= timedelta(days=days)


# --- one step -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the executor read just before deciding (the re-check)."""

    now: datetime
    keys: tuple[str, str] | None  # current fingerprints (primary, secondary); None = listKeys failed
    holdouts: tuple[str, ...] = ()  # apps not resolving the written versions ("site: why")
    unauthorized: int | None = 0  # REST 401s since the stage began, proofs excluded; None = logs unreadable


@dataclass(frozen=True)
class Decision:
    act: Step | None  # the step to take now; None = wait or pause
    pause: str = ""  # a Pause value when paused
    waiting: str = ""  # what it waits for (or what the step does)


def decide(rotation: Rotation, facts: Facts, grace: timedelta) -> Decision:
    """The step this sweep may take, or why not. Pure: the table in tests/unit/test_rotation.py."""
    if not rotation.active:
        return Decision(None, waiting="done")
    step, _, which = _STEPS[rotation.stage]
    if facts.keys is None:
        return Decision(None, Pause.KEYS_UNREADABLE, "listKeys to answer: a key change cannot be ruled out")
    if rotation.keys is not None and facts.keys != rotation.keys:
        changed = [k for k, a, b in zip(("primary", "secondary"), rotation.keys, facts.keys) if a != b]
        return Decision(None, Pause.KEY_CHANGED, f"an operator: the {' and '.join(changed)} key changed outside the "
                        "rotation; start a new one with `python -m watchdog rotate RESOURCE`")
    if rotation.stage in WRITES:
        return Decision(step, waiting=f"{step}: write the {which} connection string, prove it, refresh the apps")
    if facts.holdouts:
        return Decision(None, Pause.HOLDOUT, f"before {step}: {'; '.join(facts.holdouts)} to resolve the written "
                        "version (nothing is regenerated while an app still holds the key)")
    if facts.unauthorized is None:
        return Decision(None, Pause.LOGS_UNREADABLE, f"before {step}: resource logs (WebPubSubHttpRequest) to prove "
                        "no app still uses the old key")
    if facts.unauthorized:
        return Decision(None, Pause.UNAUTHORIZED, f"before {step}: {facts.unauthorized} REST call(s) rejected with 401 "
                        f"since {rotation.stage_since:%Y-%m-%d %H:%M} UTC; find the app still using the old key")
    until = rotation.stage_since + grace
    if facts.now < until:
        return Decision(None, waiting=f"{step} after the grace period, at {until:%Y-%m-%d %H:%M} UTC")
    return Decision(step, waiting=f"{step}: regenerate the {which} key")


def paused(rotation: Rotation, decision: Decision) -> Rotation:
    """The record after a sweep that could not step (a pause, or a wait: the reason is kept)."""
    return replace(rotation, paused=decision.pause, waiting=decision.waiting)


def stepped(rotation: Rotation, now: datetime, keys: tuple[str, str], written: Mapping[str, str] | None = None
            ) -> Rotation:
    """The record after its step was proven: the next stage, expecting `keys` from now on."""
    _, nxt, _ = _STEPS[rotation.stage]
    out = replace(rotation, stage=nxt, stage_since=now, keys=keys, paused="", last_step_at=now,
                  written=dict(written) if written is not None else rotation.written)
    if nxt == Stage.DONE:
        return replace(out, finished_at=now, waiting="done")
    step, _, which = _STEPS[nxt]
    return replace(out, waiting=f"{step} ({which} key)" + (" after the grace period" if nxt in GRACES else ""))


def failed(rotation: Rotation, reason: Pause, why: str) -> Rotation:
    """The record after its step ran but was not proven: same stage, paused, retried next sweep."""
    return replace(rotation, paused=reason, waiting=why)


def step_of(stage: Stage) -> tuple[Step, str] | None:
    if stage == Stage.DONE:
        return None
    step, _, which = _STEPS[stage]
    return step, which


def schedule(rotation: Rotation, grace: timedelta, sweep_every: timedelta, now: datetime) -> list[tuple[Step, datetime]]:
    """Each remaining step with the earliest time it can happen: one step per sweep, the
    regenerations no sooner than the grace after the write before them."""
    out: list[tuple[Step, datetime]] = []
    stage, at, since = rotation.stage, max(now, rotation.last_step_at or now), rotation.stage_since
    while stage != Stage.DONE:
        step, nxt, _ = _STEPS[stage]
        if stage in GRACES:
            at = max(at, since + grace)
        out.append((step, at))
        since, stage, at = at, nxt, at + sweep_every
    return out


@dataclass(frozen=True)
class Observed:
    """What a sweep knows of a resource's key age and rotation (Observation.rotation)."""

    regenerated_at: datetime | None  # the activity log's last regenerateKey (90 days); None = none seen
    record: Rotation | None = None  # the ledger's rotation record, if any

    @property
    def last_regenerated(self) -> datetime | None:
        return last_regenerated(self.regenerated_at, self.record)


def holdouts_of(consumers: Iterable[Consumer] | None, written: Mapping[str, str]) -> tuple[str, ...]:
    """The apps reading a written secret that do not resolve the version written ("site: why"),
    for the regeneration's precondition. Consumers not read: that is a holdout too."""
    if consumers is None:
        return ("the apps reading the secrets (their Key Vault references could not be read)",)
    consumers = list(consumers)
    out = []
    for uri, version in sorted(written.items()):
        for c in holdouts(consumers, uri, version):
            why = (f"pins version {c.pinned_version}" if c.pinned_version else
                   f"status {c.status}" if c.status != RESOLVED else f"resolves version {c.active_version}")
            out.append(f"{c.site_name} ({c.setting}) {why}, not {version}")
    return tuple(out)
