"""remediate.plan: every guard, unit choice at allowed steps, budgets and scale-in hysteresis.

Findings come from the real rules (checks.diagnose) so a plan is tested against what the sweep
really produces, not against hand-made findings that could drift from it.
"""
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.factories import NOW, SETTINGS, keys, metrics, observation, resource, resource_id, secret
from watchdog.checks import diagnose
from watchdog.models import DataPlaneProof
from watchdog.remediate import plan as plan_mod
from watchdog.remediate.plan import ScaleFacts
from watchdog.remediate.sizing import next_low_since

CONN = "TotalConnectionCount:Maximum"
ALL_ON = {"secret-sync": "on", "scale": "on", "scale-in": "on"}
STALE = DataPlaneProof(401, "rejected")


def busy(sku="Standard_S1", units=2, peak=1840.0, **kw):
    """A resource whose peak connections over the window is `peak`."""
    return observation(resource(sku, units, **kw), metrics=metrics({CONN: [peak] * 30}), autoscale=())


def run(*observations, settings=SETTINGS, modes=ALL_ON, facts=None, now=NOW):
    findings = diagnose(observations, [], settings, now)
    return plan_mod.plan(observations, findings, settings, modes, facts or {}, now)


def one_action(p, kind):
    picked = [a for a in p.actions if a.kind == kind]
    assert len(picked) == 1, (p.actions, p.skipped)
    return picked[0]


def one_skip(p, kind):
    picked = [o for o in p.skipped if o.action.kind == kind]
    assert len(picked) == 1, (p.actions, p.skipped)
    assert picked[0].status == "skipped" and picked[0].reason
    return picked[0]


# --- scale out: unit choice ---------------------------------------------------------------------

@pytest.mark.parametrize("sku, units, peak, to", [
    ("Standard_S1", 2, 1840, 3),      # the demo: 92% of 2,000 -> 3 units (61%)
    ("Standard_S1", 1, 900, 2),       # 90% -> 2 units (45%)
    ("Standard_S1", 1, 850, 2),       # exactly at the 85% threshold
    ("Standard_S1", 4, 3800, 6),      # 95% -> 3800/0.7 = 5429 -> 6 units
    ("Standard_S1", 9, 8600, 20),     # past 10 the steps are 20, 30, ...: 13 units is not allowed
    ("Premium_P1", 10, 9500, 20),
    ("Premium_P2", 100, 95000, 200),  # P2 steps are 100, 200, ... 1,000
    ("Premium_P2", 200, 190000, 300),
])
def test_scale_out_picks_the_smallest_allowed_step_under_target(sku, units, peak, to):
    settings = replace(SETTINGS, max_units=1000)
    action = one_action(run(busy(sku, units, peak), settings=settings), "scale")
    assert action.params == {"sku": sku, "from": units, "to": to}
    assert action.subject == "capacity" and "smallest allowed step" in action.reason


def test_live_allowed_values_win_over_the_fallback_table():
    obs = replace(busy("Standard_S1", 2, 1840), allowed_capacities=(1, 2, 5, 10))
    assert one_action(run(obs), "scale").params["to"] == 5


def test_quota_metric_alone_is_enough():
    obs = observation(resource("Standard_S1", 2), metrics=metrics({"ConnectionQuotaUtilization:Maximum": [92] * 30}),
                      autoscale=())
    assert one_action(run(obs), "scale").params["to"] == 3


def test_below_threshold_nothing_is_planned():
    p = run(busy(peak=1600))  # 80%: a warning, below the 85% scale threshold
    assert p.actions == [] and p.skipped == []


def test_critical_capacity_triggers_even_below_a_higher_threshold():
    settings = replace(SETTINGS, scale_threshold_pct=95, capacity_crit_pct=90)
    assert one_action(run(busy(peak=1840), settings=settings), "scale").params["to"] == 3


def test_throttling_without_connection_metrics_scales_from_the_cap():
    obs = observation(resource("Standard_S1", 2), metrics=metrics({}, closes={"Throttled": 40}), autoscale=())
    action = one_action(run(obs), "scale")
    assert action.params["to"] == 3 and "throttled" in action.reason


# --- scale out: budget ----------------------------------------------------------------------------

@pytest.mark.parametrize("sku, units, peak, max_units, tag, to", [
    ("Standard_S1", 8, 9000, 10, None, 10),     # wants 20, capped to 10 by the setting
    ("Standard_S1", 8, 9000, 10, "9", 9),       # the tag overrides the setting
    ("Standard_S1", 8, 9000, 10, "30", 20),     # ... upwards too
    ("Premium_P2", 100, 95000, 1000, "500", 200),
    ("Premium_P2", 100, 190000, 1000, "250", 200),  # wants 300, the budget fits 200
])
def test_budget_caps_the_step(sku, units, peak, max_units, tag, to):
    tags = {"watchdog-max-units": tag} if tag else {}
    settings = replace(SETTINGS, max_units=max_units)
    action = one_action(run(busy(sku, units, peak, tags=tags), settings=settings), "scale")
    assert action.params["to"] == to
    if to < 20 or tag == "250":
        assert "capped by the budget" in action.reason


@pytest.mark.parametrize("sku, units, peak, tag", [
    ("Standard_S1", 10, 9500, None),      # at the default budget of 10 already
    ("Standard_S1", 4, 3800, "4"),
    ("Premium_P2", 100, 95000, None),     # P2 starts at 100 units, far above the default budget
    ("Standard_S1", 4, 3800, "lots"),     # unreadable budget: refuse rather than guess
    ("Standard_S1", 4, 3800, "0"),
])
def test_budget_guard(sku, units, peak, tag):
    tags = {"watchdog-max-units": tag} if tag else {}
    skip = one_skip(run(busy(sku, units, peak, tags=tags)), "scale")
    assert skip.guard == "budget"
    assert "watchdog-max-units" in skip.reason


# --- scale out: guards ----------------------------------------------------------------------------

def test_autoscale_guard():
    obs = replace(busy(), autoscale=("chat-autoscale",))
    skip = one_skip(run(obs), "scale")
    assert skip.guard == "autoscale" and "chat-autoscale" in skip.reason
    assert skip.action.params["to"] == 3  # the report still says what would have been right


def test_unknown_autoscale_is_left_to_the_executor_to_re_check():
    assert one_action(run(replace(busy(), autoscale=None)), "scale").params["to"] == 3


@pytest.mark.parametrize("minutes_ago, blocked", [(5, True), (29, True), (30, False), (120, False)])
def test_cooldown_guard(minutes_ago, blocked):
    obs = busy()
    facts = {obs.resource.id.lower(): ScaleFacts(last_scaled=NOW - timedelta(minutes=minutes_ago))}
    p = run(obs, facts=facts)
    if blocked:
        skip = one_skip(p, "scale")
        assert skip.guard == "cooldown" and f"{30 - minutes_ago} min left" in skip.reason
    else:
        assert one_action(p, "scale").params["to"] == 3


def test_free_tier_gets_upgrade_guidance_instead():
    obs = observation(resource("Free_F1", 1), metrics=metrics({CONN: [20] * 30}), autoscale=())
    skip = one_skip(run(obs), "scale")
    assert skip.guard == "free-tier"
    assert "Standard_S1" in skip.reason and "public IP" in skip.reason


@pytest.mark.parametrize("state", ["Updating", "Failed", "Creating"])
def test_provisioning_guard(state):
    skip = one_skip(run(busy(provisioning_state=state)), "scale")
    assert skip.guard == "provisioning" and state in skip.reason


def test_sku_max_guard():
    settings = replace(SETTINGS, max_units=1000)
    skip = one_skip(run(busy("Standard_S1", 100, 95000), settings=settings), "scale")
    assert skip.guard == "sku-max"


def test_mode_off_plans_nothing_of_that_kind():
    modes = {"secret-sync": "on", "scale": "off", "scale-in": "off"}
    assert run(busy(), modes=modes).actions == []
    assert run(busy(), modes={}).actions == []


# --- scale in: hysteresis -------------------------------------------------------------------------

def _idle(units=6, peak=900.0, **kw):
    return busy("Standard_S1", units, peak, **kw)  # 15% of 6,000


@pytest.mark.parametrize("low_for, planned", [(None, False), (0, False), (119, False), (120, True), (600, True)])
def test_scale_in_only_after_staying_low(low_for, planned):
    obs = _idle()
    since = None if low_for is None else NOW - timedelta(minutes=low_for)
    p = run(obs, facts={obs.resource.id.lower(): ScaleFacts(low_since=since)})
    if planned:
        action = one_action(p, "scale-in")
        # 900 connections under 70% needs more than 1,286 of cap: 2 units.
        assert action.params == {"sku": "Standard_S1", "from": 6, "to": 2}
    else:
        assert p.actions == [] and p.skipped == []


def test_scale_in_never_below_min_units():
    obs = _idle(units=6, peak=100)
    facts = {obs.resource.id.lower(): ScaleFacts(low_since=NOW - timedelta(hours=5))}
    assert one_action(run(obs, facts=facts), "scale-in").params["to"] == 1
    settings = replace(SETTINGS, min_units=4)
    assert one_action(run(obs, settings=settings, facts=facts), "scale-in").params["to"] == 4
    settings = replace(SETTINGS, min_units=6)
    assert run(obs, settings=settings, facts=facts).actions == []


def test_scale_in_is_off_by_default_and_guarded():
    obs = _idle()
    facts = {obs.resource.id.lower(): ScaleFacts(low_since=NOW - timedelta(hours=5),
                                                 last_scaled=NOW - timedelta(minutes=10))}
    assert run(obs, modes=SETTINGS.modes(), facts=facts).actions == []
    assert SETTINGS.modes()["scale-in"] == "off"
    assert one_skip(run(obs, facts=facts), "scale-in").guard == "cooldown"
    skip = one_skip(run(replace(obs, autoscale=("as",)), facts=facts), "scale-in")
    assert skip.guard == "autoscale"


def test_low_since_bookkeeping():
    earlier = NOW - timedelta(minutes=50)
    assert next_low_since(_idle(), SETTINGS, None, NOW) == NOW  # first low sweep starts the clock
    assert next_low_since(_idle(), SETTINGS, earlier, NOW) == earlier  # still low: keep the start
    assert next_low_since(busy(peak=1000), SETTINGS, earlier, NOW) is None  # 50%: reset
    assert next_low_since(observation(resource()), SETTINGS, earlier, NOW) is None  # no data: reset


# --- secret sync ----------------------------------------------------------------------------------

def bound(sec=None, res=None, **kw):
    return observation(res or resource(), keys=keys(), secrets=(sec or secret("fp-old", proof=STALE),), **kw)


@pytest.mark.parametrize("sec", [
    secret("fp-old", proof=STALE),                                    # stale-key
    secret("fp-old", proof=None),                                     # stale-key, no proof
    secret("fp-primary", proof=STALE),                                # key-rejected
    secret("fp-old", host="other-wps.webpubsub.azure.com", proof=STALE),  # another resource's endpoint
])
def test_secret_sync_planned_for_a_key_that_is_not_current(sec):
    action = one_action(run(bound(sec)), "secret-sync")
    assert action.subject == sec.uri and action.finding
    assert action.params == {"key": "primary", "vault_url": sec.vault_url, "name": sec.name, "version": "v1"}


def test_secret_sync_writes_the_key_the_tag_names():
    sec = secret("fp-old", proof=STALE, tags={"webpubsub-key": "Secondary"})
    assert one_action(run(bound(sec)), "secret-sync").params["key"] == "secondary"


def test_healthy_secret_plans_nothing():
    p = run(bound(secret()))
    assert p.actions == [] and p.skipped == []


@pytest.mark.parametrize("sec, res_kw, guard", [
    (secret("fp-old", proof=STALE, tags={"webpubsub-key": "tertiary"}), {}, "key-tag"),
    (secret("fp-old", proof=STALE), {"disable_local_auth": True}, "local-auth-disabled"),
    (secret("fp-old", proof=STALE), {"provisioning_state": "Updating"}, "provisioning"),
    (secret("fp-old", proof=STALE, enabled=False), {}, "secret-disabled"),
    (secret("fp-old", host="ns.servicebus.windows.net", proof=None), {}, "foreign-endpoint"),
    (secret("fp-old", proof=DataPlaneProof(404, "accepted")), {}, "proof-accepted"),
    (secret("fp-old", proof=STALE, claimed_by=(resource_id("wps-other"),)), {}, "conflicting-binding"),
    (replace(secret("fp-old", proof=STALE), vault_url="https://kv-elsewhere.vault.azure.net",
             uri="https://kv-elsewhere.vault.azure.net/secrets/wps-conn"), {}, "vault-not-allowed"),
    # Authority first: a conflict or an unlisted vault stops secret sync before any other guard.
    (secret("fp-old", proof=STALE, enabled=False, claimed_by=(resource_id("wps-other"),)), {"disable_local_auth": True},
     "conflicting-binding"),
])
def test_secret_sync_guards(sec, res_kw, guard):
    skip = one_skip(run(bound(sec, resource(**res_kw))), "secret-sync")
    assert skip.guard == guard
    assert skip.action.subject == sec.uri


def test_no_secret_value_or_key_in_any_plan_text():
    p = run(bound(secret("fp-old", proof=STALE)), busy(name="other"))
    text = repr(p)
    assert "AccessKey" not in text and "fp-old" not in text
