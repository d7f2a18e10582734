"""rotation: keys due for a staged rotation, and rotations under way or paused.

Judged only while rotation is not off (WATCHDOG_ROTATE), from what the sweep read: the key age
(activity log's last regenerateKey, or the ledger's own rotations) and the rotation record.
- due (info): the keys are older than `watchdog-rotate-days` / WATCHDOG_ROTATE_DAYS.
- age-unknown (info): nothing shows when a key was last regenerated; the age is not guessed.
- in-progress (info): the stage, and what it waits for.
- paused (warning): what stopped it (a key changed by someone else, a failed proof, an app not
  resolving the written version, REST 401s during the grace) and what it waits for.
- bad-tag (warning): `watchdog-rotate-days` is not a whole number of days.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from watchdog import rotation as machine
from watchdog import tags
from watchdog.checks._common import finding, label
from watchdog.checks.registry import Check, Rule, Source, register
from watchdog.models import Finding, Observation, Severity

if TYPE_CHECKING:
    from watchdog.settings import Settings

RULE = "rotation"
REMEDY = machine.KIND
_NEEDS = frozenset({Source.INVENTORY, Source.SECRETS, Source.KEY_AGE})
_START = "Start one now with `python -m watchdog rotate RESOURCE` (`--plan` shows the schedule)."
DUE = Check(RULE, "due", Severity.INFO, "the keys are older than `watchdog-rotate-days` / `WATCHDOG_ROTATE_DAYS`: a "
            "staged rotation starts (WATCHDOG_ROTATE=on)", _NEEDS, remedy=REMEDY, guidance=_START)
AGE_UNKNOWN = Check(RULE, "age-unknown", Severity.INFO, "rotation is on but no regenerateKey is in the activity log's 90 "
                    "days and the ledger has no rotation: the keys' age is unknown, not guessed", _NEEDS,
                    guidance=f"Nothing is rotated on an unknown age. {_START}")
IN_PROGRESS = Check(RULE, "in-progress", Severity.INFO, "a staged rotation is under way: its stage and what it waits "
                    "for", _NEEDS, remedy=REMEDY)
PAUSED = Check(RULE, "paused", Severity.WARNING, "a rotation is paused: a key changed by someone else, a failed proof, "
               "an app not resolving the written version, or REST 401s during the grace", _NEEDS, remedy=REMEDY,
               guidance="Fix what it waits for; each sweep re-checks and the rotation goes on by itself (a key "
                        "changed by someone else needs a new rotation: `python -m watchdog rotate RESOURCE`).")
BAD_TAG = Check(RULE, "bad-tag", Severity.WARNING, f"tag `{tags.ROTATE_DAYS}` is not a whole number of days (0-3650)",
                frozenset({Source.INVENTORY}))


def check(obs: Observation, settings: Settings, now: datetime) -> list[Finding]:
    seen = obs.rotation
    if seen is None:
        return []
    res, record = obs.resource, seen.record
    if record is not None and record.active:
        return [_under_way(obs, record, settings, now)]
    days = tags.rotate_days(res.tags, settings.rotate_days)
    if days is None:
        return [finding(BAD_TAG, res.id, res.id, f"{label(res)}: tag {tags.ROTATE_DAYS}="
                        f"{res.tags.get(tags.ROTATE_DAYS)!r} is not a whole number of days",
                        {"tag": res.tags.get(tags.ROTATE_DAYS)})]
    regenerated = seen.last_regenerated
    verdict = machine.due(regenerated, days, now)
    if verdict is None:
        return [finding(AGE_UNKNOWN, res.id, res.id, f"{label(res)}: the keys' age is unknown (rotation limit {days} "
                        "days)", {"limit_days": days, "observed_at": now.isoformat()})]
    if verdict:
        age = (now - regenerated).days if regenerated else None
        return [finding(DUE, res.id, res.id, f"{label(res)}: keys last regenerated {age} days ago, limit {days}: "
                        "rotation due", {"age_days": age, "limit_days": days,
                                          "regenerated_at": regenerated.isoformat() if regenerated else None})]
    return []


def _under_way(obs: Observation, record: machine.Rotation, settings: Settings, now: datetime) -> Finding:
    res = obs.resource
    waiting, pause = record.waiting, record.paused
    grace = timedelta(minutes=settings.rotate_grace_minutes)
    if record.stage in machine.GRACES and (held := machine.holdouts_of(obs.consumers, record.written)):
        # Judged now, not only after the step: the card says why before anything is regenerated.
        decision = machine.decide(record, machine.Facts(now, record.keys, held), grace)
        waiting, pause = decision.waiting, decision.pause or pause
    evidence = {"stage": str(record.stage), "waiting_for": waiting, "paused": pause or None,
                "started_at": record.started_at.isoformat(), "stage_since": record.stage_since.isoformat()}
    if pause:
        return finding(PAUSED, res.id, res.id, f"Rotation of {label(res)} paused at stage {record.stage} ({pause}): "
                       f"waits for {waiting}", evidence)
    return finding(IN_PROGRESS, res.id, res.id, f"Rotation of {label(res)} at stage {record.stage}: next {waiting}",
                   evidence)


register(Rule(RULE, (DUE, AGE_UNKNOWN, IN_PROGRESS, PAUSED, BAD_TAG), check,
              doc="keys due for a staged rotation, and rotations under way or paused (only while WATCHDOG_ROTATE "
                  "is not off)."))
