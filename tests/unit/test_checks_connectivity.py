"""connectivity/*: the four log-based rules, judged on LogSignals alone."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import NOW, SETTINGS, observation
from watchdog.checks import connectivity, registry
from watchdog.checks.registry import Source
from watchdog.models import Severity
from watchdog.models_logs import LifetimeCluster, LogSignals, TokenAge

REGEN = NOW - timedelta(hours=2)


def signals(**kw) -> LogSignals:
    return LogSignals(window_minutes=30, **kw)


def judged(s: LogSignals | None) -> list[tuple[str, str, Severity]]:
    return [(f.check, f.subject, f.severity) for f in connectivity.check(observation(log_signals=s), SETTINGS, NOW)]


@pytest.mark.parametrize("s, expected", [
    (None, []),  # logs not read: the blind-spot rules speak, not this one
    (signals(), []),  # read and quiet
    (signals(rest_rejected=2, rest_unauthorized=2, rest_first=NOW), []),  # under the threshold
    (signals(rest_rejected=3, rest_unauthorized=3, rest_first=NOW), [("unauthorized", "rest-api", Severity.WARNING)]),
    # 401s that began after a key regeneration: a consumer holds the old key.
    (signals(rest_rejected=5, rest_unauthorized=5, rest_first=REGEN + timedelta(minutes=90), key_regenerated_at=REGEN),
     [("unauthorized", "rest-api", Severity.CRITICAL)]),
    # 401s already there before the regeneration are not caused by it.
    (signals(rest_rejected=5, rest_unauthorized=5, rest_first=REGEN - timedelta(minutes=1), key_regenerated_at=REGEN),
     [("unauthorized", "rest-api", Severity.WARNING)]),
    # Only 403s (an identity without the role) after a regeneration: not the old-key case.
    (signals(rest_rejected=5, rest_unauthorized=0, rest_first=NOW, key_regenerated_at=REGEN),
     [("unauthorized", "rest-api", Severity.WARNING)]),
    (signals(auth_refusals=9), []),
    (signals(auth_refusals=10, refusals=10, refusal_ips=4), [("unauthorized", "client-connections", Severity.WARNING)]),
])
def test_unauthorized(s, expected):
    assert [j for j in judged(s) if j[0] == "unauthorized"] == expected


def test_unauthorized_evidence_names_callers_and_path_shapes_only():
    s = signals(rest_rejected=4, rest_unauthorized=3, rest_first=NOW, rest_caller_ips=("198.51.100.7",),
                rest_paths=("/api/hubs/{hub}/:send",), key_regenerated_at=REGEN)
    [f] = connectivity.check(observation(log_signals=s), SETTINGS, NOW)
    assert f.evidence["caller_ips"] == ["198.51.100.7"] and f.evidence["paths"] == ["/api/hubs/{hub}/:send"]
    assert (f.evidence["rest_401"], f.evidence["rest_rejected"]) == (3, 4) and "403: 1" in f.summary
    assert "old key" in f.summary


@pytest.mark.parametrize("closes, clusters, expected", [
    (0, (), None),
    (100, (), None),
    (100, (LifetimeCluster(60, 80, 80),), 60),
    (100, (LifetimeCluster(60, 29, 29),), None),  # under 30% of closes
    (100, (LifetimeCluster(60, 80, 10),), None),  # the service closed most of them
    (10, (LifetimeCluster(90, 4, 4),), None),  # too few to call a cluster
    (100, (LifetimeCluster(60, 35, 35), LifetimeCluster(240, 40, 40)), 240),  # the bigger cluster is named
])
def test_idle_timeout(closes, clusters, expected):
    [*found] = connectivity.check(observation(log_signals=signals(closes=closes, lifetime_clusters=clusters)),
                                  SETTINGS, NOW)
    assert [f.evidence["lifetime_seconds"] for f in found if f.check == "idle-timeout"] == (
        [expected] if expected else [])


def test_idle_timeout_names_lifetime_share_and_fix():
    s = signals(closes=50, server_closes=2, lifetime_clusters=(LifetimeCluster(60, 40, 38),))
    [f] = connectivity.check(observation(log_signals=s), SETTINGS, NOW)
    assert "76%" in f.summary and "60 s" in f.summary and f.severity == Severity.WARNING
    assert "idle timeout" in f.guidance and "keep-alive" in f.guidance


@pytest.mark.parametrize("ages, expected", [
    ((), None),
    ((TokenAge(60, 5, 20),), 60),
    ((TokenAge(60, 1, 4),), None),  # one client is not a pattern
    ((TokenAge(0, 6, 20), TokenAge(60, 1, 3)), None),  # refused right after connecting: a bad token, not an old one
    ((TokenAge(60, 3, 9), TokenAge(15, 2, 4), TokenAge(95, 2, 4)), None),  # no regular age: 3 of 7
    ((TokenAge(55, 4, 12), TokenAge(120, 1, 2)), 55),
])
def test_token_expiry(ages, expected):
    found = [f for f in connectivity.check(observation(log_signals=signals(token_ages=ages)), SETTINGS, NOW)]
    assert [f.evidence["age_minutes"] for f in found if f.check == "token-expiry"] == ([expected] if expected else [])


@pytest.mark.parametrize("refusals, by_ip, fires", [
    (0, (), False),
    (40, (("203.0.113.5", 40),), False),  # too few refusals to judge
    (100, (("203.0.113.5", 70), ("203.0.113.6", 15)), True),
    (100, (("203.0.113.5", 30), ("203.0.113.6", 20), ("203.0.113.7", 20), ("203.0.113.8", 20)), False),  # 70% in top 3
    (100, (), False),  # spread thin: no IP reached the query's per-IP floor
])
def test_throttled_ips(refusals, by_ip, fires):
    s = signals(refusals=refusals, refusal_ips=len(by_ip), refusals_by_ip=by_ip)
    found = [f for f in connectivity.check(observation(log_signals=s), SETTINGS, NOW) if f.check == "throttled-ips"]
    assert bool(found) == fires
    if fires:
        assert "203.0.113.5" in found[0].summary and found[0].evidence["top_ips"][0] == "203.0.113.5: 70"


def test_the_rule_is_registered_with_its_checks_needing_the_logs():
    rule = registry.rule("connectivity")
    assert {c.id for c in rule.checks} == {"unauthorized", "idle-timeout", "token-expiry", "throttled-ips"}
    assert all(Source.LOGS in c.needs for c in rule.checks)
    assert rule.evaluate is connectivity.check
