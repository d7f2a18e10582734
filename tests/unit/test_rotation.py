"""The staged rotation's state machine (watchdog/rotation.py): every transition and every pause
reason, table-driven and pure; the record's round trip; due and unknown age; the schedule."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from watchdog import rotation as m
from watchdog.consumers import Consumer
from watchdog.rotation import Facts, Pause, Rotation, Stage, Step

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
GRACE = timedelta(minutes=60)
KEYS = ("p1", "s1")
RID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.SignalRService/WebPubSub/chat"
URI = "https://kv.vault.azure.net/secrets/conn"
V1, V2 = "a" * 32, "b" * 32


def rec(stage: Stage, keys=KEYS, since: datetime = T0, **kw) -> Rotation:  # noqa: ANN001, ANN003
    return Rotation(RID, stage, T0, since, keys, {URI: V2} if stage != Stage.TO_SECONDARY else {}, **kw)


LATER = T0 + GRACE + timedelta(minutes=1)
EARLY = T0 + timedelta(minutes=10)

# (case, record, facts, the step taken or None, the pause or "")
DECISIONS = [
    ("new rotation writes the secondary", rec(Stage.TO_SECONDARY, keys=None), Facts(T0, KEYS), Step.WRITE_SECONDARY, ""),
    ("write stage ignores the grace", rec(Stage.TO_PRIMARY), Facts(T0, KEYS), Step.WRITE_PRIMARY, ""),
    ("grace not over: wait", rec(Stage.GRACE_SECONDARY), Facts(EARLY, KEYS), None, ""),
    ("grace over, clean: regenerate primary", rec(Stage.GRACE_SECONDARY), Facts(LATER, KEYS),
     Step.REGENERATE_PRIMARY, ""),
    ("second grace over: regenerate secondary", rec(Stage.GRACE_PRIMARY), Facts(LATER, KEYS),
     Step.REGENERATE_SECONDARY, ""),
    ("keys unreadable", rec(Stage.TO_PRIMARY), Facts(T0, None), None, Pause.KEYS_UNREADABLE),
    ("someone regenerated the primary", rec(Stage.GRACE_SECONDARY), Facts(LATER, ("p2", "s1")), None,
     Pause.KEY_CHANGED),
    ("someone regenerated a key before a write", rec(Stage.TO_PRIMARY), Facts(T0, ("p1", "s9")), None,
     Pause.KEY_CHANGED),
    ("an app holds the old key", rec(Stage.GRACE_SECONDARY), Facts(LATER, KEYS, ("api (Conn) pins version x",)),
     None, Pause.HOLDOUT),
    ("an app holds it, even within the grace", rec(Stage.GRACE_PRIMARY), Facts(EARLY, KEYS, ("api",)), None,
     Pause.HOLDOUT),
    ("401s during the grace", rec(Stage.GRACE_SECONDARY), Facts(LATER, KEYS, (), 3), None, Pause.UNAUTHORIZED),
    ("no logs to prove the grace", rec(Stage.GRACE_PRIMARY), Facts(LATER, KEYS, (), None), None,
     Pause.LOGS_UNREADABLE),
    ("done does nothing", rec(Stage.DONE), Facts(LATER, KEYS), None, ""),
]


@pytest.mark.parametrize("case, record, facts, step, pause", DECISIONS, ids=[d[0] for d in DECISIONS])
def test_decide(case, record, facts, step, pause) -> None:  # noqa: ANN001
    d = m.decide(record, facts, GRACE)
    assert (d.act, d.pause) == (step, pause), case
    assert d.waiting, "every decision says what it waits for (or does)"


def test_every_pause_reason_is_reachable_by_decide_or_a_failed_step() -> None:
    by_decide = {d[4] for d in DECISIONS if d[4]}
    by_steps = {Pause.PROOF_FAILED}  # set by the executor through failed()
    assert by_decide | by_steps == set(Pause)


# (stage, the stage after its step, the key it works on)
TRANSITIONS = [
    (Stage.TO_SECONDARY, Stage.GRACE_SECONDARY, Step.WRITE_SECONDARY, "secondary"),
    (Stage.GRACE_SECONDARY, Stage.TO_PRIMARY, Step.REGENERATE_PRIMARY, "primary"),
    (Stage.TO_PRIMARY, Stage.GRACE_PRIMARY, Step.WRITE_PRIMARY, "primary"),
    (Stage.GRACE_PRIMARY, Stage.DONE, Step.REGENERATE_SECONDARY, "secondary"),
]


@pytest.mark.parametrize("stage, after, step, which", TRANSITIONS)
def test_a_proven_step_moves_to_the_next_stage(stage, after, step, which) -> None:  # noqa: ANN001
    assert m.step_of(stage) == (step, which)
    before = replace(rec(stage), paused=Pause.HOLDOUT, waiting="x")
    now = LATER + timedelta(hours=1)
    moved = m.stepped(before, now, ("p9", "s9"), {URI: V1} if stage in m.WRITES else None)
    assert (moved.stage, moved.stage_since, moved.keys, moved.paused, moved.last_step_at) == (
        after, now, ("p9", "s9"), "", now)
    assert moved.written == ({URI: V1} if stage in m.WRITES else before.written)
    assert (moved.finished_at == now) == (after == Stage.DONE) and moved.waiting


def test_a_step_not_proven_stays_in_its_stage_paused() -> None:
    failed = m.failed(rec(Stage.TO_SECONDARY), Pause.PROOF_FAILED, "the data plane to accept it")
    assert (failed.stage, failed.paused, failed.waiting) == (Stage.TO_SECONDARY, Pause.PROOF_FAILED,
                                                             "the data plane to accept it")
    waiting = m.paused(rec(Stage.GRACE_SECONDARY), m.decide(rec(Stage.GRACE_SECONDARY), Facts(EARLY, KEYS), GRACE))
    assert waiting.paused == "" and "grace" in waiting.waiting


def test_a_rotation_run_through_takes_one_step_per_sweep_and_never_both_keys() -> None:
    r, now, keys, regenerated = m.start(RID, T0), T0, KEYS, []
    for sweep in range(12):
        d = m.decide(r, Facts(now, keys), GRACE)
        if d.act in (Step.REGENERATE_PRIMARY, Step.REGENERATE_SECONDARY):
            keys = ("p2", keys[1]) if d.act == Step.REGENERATE_PRIMARY else (keys[0], "s2")
            regenerated.append((sweep, d.act))
        if d.act is not None:
            r = m.stepped(r, now, keys, {URI: f"{sweep:032d}"} if d.act.startswith("write") else None)
        now += timedelta(minutes=30)
        if not r.active:
            break
    assert r.stage == Stage.DONE and keys == ("p2", "s2")
    assert [s for _, s in regenerated] == [Step.REGENERATE_PRIMARY, Step.REGENERATE_SECONDARY]
    assert regenerated[1][0] - regenerated[0][0] >= 2, "a write and a grace lie between the two regenerations"


def test_the_record_round_trips_through_json_and_holds_no_key() -> None:
    import json

    r = replace(rec(Stage.GRACE_PRIMARY), paused=Pause.UNAUTHORIZED, waiting="w", last_step_at=T0)
    payload = json.loads(json.dumps(r.to_payload()))
    assert Rotation.from_payload(RID, payload) == r
    assert set(payload) == {"resource_id", "stage", "started_at", "stage_since", "keys", "written", "paused", "waiting",
                            "finished_at", "last_step_at"}


@pytest.mark.parametrize("regenerated, days, expected", [
    (T0 - timedelta(days=91), 90, True), (T0 - timedelta(days=89), 90, False), (None, 90, None),
    (T0 - timedelta(days=400), 0, False), (None, 0, False)])
def test_due_and_unknown_age(regenerated, days, expected) -> None:  # noqa: ANN001
    assert m.due(regenerated, days, T0) is expected


def test_key_age_is_the_later_of_the_activity_log_and_the_ledgers_rotations() -> None:
    finished = replace(rec(Stage.DONE), finished_at=T0 - timedelta(days=5))
    assert m.last_regenerated(T0 - timedelta(days=50), finished) == T0 - timedelta(days=5)
    assert m.last_regenerated(T0 - timedelta(days=1), finished) == T0 - timedelta(days=1)
    assert m.last_regenerated(None, None) is None
    assert m.Observed(None, finished).last_regenerated == T0 - timedelta(days=5)


def test_holdouts_name_each_app_not_on_the_written_version() -> None:
    site = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/{}"
    ok = Consumer(site.format("api"), "api", "app", "Conn", URI, "Resolved", None, V2)
    behind = Consumer(site.format("old"), "old", "app", "Conn", URI, "Resolved", None, V1)
    pinned = Consumer(site.format("pin"), "pin", "app", "Conn", URI, "Resolved", V1, V1)
    assert m.holdouts_of([ok], {URI: V2}) == ()
    held = m.holdouts_of([ok, behind, pinned], {URI: V2})
    assert len(held) == 2 and "old (Conn) resolves version" in held[0] and "pin (Conn) pins version" in held[1]
    assert m.holdouts_of(None, {URI: V2}), "consumers not read: nothing is proven"


def test_the_schedule_lists_every_remaining_step_with_dates() -> None:
    every = timedelta(minutes=5)
    steps = m.schedule(m.start(RID, T0), GRACE, every, T0)
    assert [s for s, _ in steps] == list(Step)
    assert steps[0][1] == T0 and steps[1][1] == T0 + GRACE, "the regeneration waits out the grace"
    assert steps[2][1] == T0 + GRACE + every and steps[3][1] == T0 + 2 * GRACE + every
    later = m.schedule(rec(Stage.GRACE_PRIMARY, since=T0), GRACE, every, T0 + timedelta(minutes=5))
    assert later == [(Step.REGENERATE_SECONDARY, T0 + GRACE)]


# --- the rotation rule and the plan (pure) ----------------------------------------------------

def _rule_obs(observed, tags=None, consumers=()):  # noqa: ANN001
    from tests.factories import observation, resource, secret

    res = resource(tags=tags or {})
    return observation(res, secrets=(secret(),), rotation=observed, consumers=consumers)


def _findings(obs, now=T0):  # noqa: ANN001
    from tests.factories import SETTINGS
    from watchdog.checks import rotation as rule

    return rule.check(obs, replace(SETTINGS, rotate="on", rotate_days=30), now)


@pytest.mark.parametrize("observed, tags, check", [
    (None, None, None),  # rotation off or the read failed: silent (a failed read is a blind spot)
    (m.Observed(T0 - timedelta(days=31)), None, "due"),
    (m.Observed(T0 - timedelta(days=29)), None, None),
    (m.Observed(T0 - timedelta(days=29)), {"watchdog-rotate-days": "7"}, "due"),
    (m.Observed(T0 - timedelta(days=400)), {"watchdog-rotate-days": "0"}, None),
    (m.Observed(None), None, "age-unknown"),
    (m.Observed(T0 - timedelta(days=31)), {"watchdog-rotate-days": "soon"}, "bad-tag"),
    (m.Observed(None, replace(rec(Stage.DONE), finished_at=T0 - timedelta(days=1))), None, None),
    (m.Observed(None, rec(Stage.GRACE_SECONDARY)), None, "in-progress"),
    (m.Observed(None, replace(rec(Stage.TO_PRIMARY), paused=Pause.PROOF_FAILED, waiting="w")), None, "paused"),
])
def test_the_rule(observed, tags, check) -> None:  # noqa: ANN001
    found = _findings(_rule_obs(observed, tags))
    assert [f.check for f in found] == ([check] if check else [])


def test_the_rule_says_why_a_rotation_will_not_regenerate_in_the_same_sweep() -> None:
    from tests.factories import resource_id

    site = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/legacy"
    pinned = Consumer(site, "legacy", "app", "Conn", URI, "Resolved", V1, V1)
    record = replace(rec(Stage.GRACE_SECONDARY), resource_id=resource_id())
    (f,) = _findings(_rule_obs(m.Observed(None, record), consumers=(pinned,)), EARLY)
    assert f.check == "paused" and f.evidence["paused"] == Pause.HOLDOUT
    assert "grace-after-secondary" in f.summary and "legacy (Conn) pins version" in f.summary


def test_the_plan_waits_out_the_grace_and_starts_at_write_secondary() -> None:
    from tests.factories import SETTINGS
    from watchdog.remediate import rotate
    from watchdog.remediate.plan import Plan, ScaleFacts
    from watchdog.remediate.registry import PlanContext

    settings = replace(SETTINGS, rotate="on", rotate_days=30)

    def planned(observed, now):  # noqa: ANN001, ANN202
        obs = _rule_obs(observed)
        out = Plan()
        rotate.plan(obs, _findings(obs, now), PlanContext(settings, ScaleFacts(), now), out)
        return [(a.action if hasattr(a, "action") else a).params.get("step") for a in (*out.actions, *out.skipped)]

    assert planned(m.Observed(T0 - timedelta(days=31)), T0) == ["write-secondary"]
    assert planned(m.Observed(None, rec(Stage.GRACE_SECONDARY)), EARLY) == [], "within the grace: nothing planned"
    assert planned(m.Observed(None, rec(Stage.GRACE_SECONDARY)), LATER) == ["regenerate-primary"]
    changed = replace(rec(Stage.GRACE_SECONDARY), paused=Pause.KEY_CHANGED, waiting="an operator")
    assert planned(m.Observed(None, changed), LATER) == [], "an operator restarts it"
    assert rotate.sweep_every("0 */5 * * * *") == timedelta(minutes=5)
    assert rotate.sweep_every("0 0 * * * *") == timedelta(hours=1)


def test_a_failed_key_age_read_is_a_blind_spot_naming_the_right() -> None:
    from watchdog.checks.blind_spots import check_errors
    from watchdog.collect import key_age
    from watchdog.models import ObservationError

    (f,) = check_errors([ObservationError(key_age.SOURCE, "forbidden", "denied", resource_id=RID, status=403,
                                          permission=key_age.ACTION)], T0)
    assert f.check == "key-age-forbidden" and "Microsoft.Insights/eventtypes/values/read" in f.guidance
    assert "last regenerated" in f.summary
