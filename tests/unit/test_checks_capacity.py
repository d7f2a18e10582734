import pytest

from tests.factories import NOW, SETTINGS, metrics, observation, resource
from watchdog.checks import capacity, tiers
from watchdog.models import ObservationError, Severity

CONN = "TotalConnectionCount:Maximum"
QUOTA = "ConnectionQuotaUtilization:Maximum"


def flat(peak, n=30):
    """A flat series at `peak`, so no trend projection interferes."""
    return [peak] * n


def run(obs):
    return capacity.check(obs, SETTINGS, NOW)


def only(findings, check):
    picked = [f for f in findings if f.check == check]
    assert len(picked) == 1, [f.check for f in findings]
    return picked[0]


@pytest.mark.parametrize(
    "sku, units, cap",
    [("Free_F1", 1, 20), ("Standard_S1", 1, 1_000), ("Standard_S1", 10, 10_000), ("Standard_S1", 20, 20_000),
     ("Standard_S1", 100, 100_000), ("Premium_P1", 30, 30_000), ("Premium_P2", 100, 100_000),
     ("Premium_P2", 1000, 1_000_000)],
)
def test_cap_is_units_times_per_unit(sku, units, cap):
    assert tiers.connection_cap(resource(sku, units)) == cap


@pytest.mark.parametrize(
    "sku, allowed",
    [("Free_F1", (1,)),
     ("Standard_S1", (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)),
     ("Premium_P2", (100, 200, 300, 400, 500, 600, 700, 800, 900, 1000))],
)
def test_fallback_allowed_capacities(sku, allowed):
    assert tiers.allowed_capacities(observation(resource(sku))) == allowed


def test_live_allowed_capacities_win():
    assert tiers.allowed_capacities(observation(resource(), allowed_capacities=(5, 1, 2))) == (1, 2, 5)


@pytest.mark.parametrize(
    "sku, units, peak, expected, next_units",
    [
        ("Standard_S1", 1, 500, [], None),
        ("Standard_S1", 1, 799, [], None),
        ("Standard_S1", 1, 800, [("utilisation", Severity.WARNING)], 2),
        ("Standard_S1", 1, 899, [("utilisation", Severity.WARNING)], 2),
        ("Standard_S1", 1, 900, [("utilisation", Severity.CRITICAL)], 2),
        ("Standard_S1", 2, 1_900, [("utilisation", Severity.CRITICAL)], 3),
        ("Standard_S1", 10, 8_000, [("utilisation", Severity.WARNING)], 20),
        ("Standard_S1", 10, 9_500, [("utilisation", Severity.CRITICAL)], 20),
        ("Standard_S1", 20, 19_000, [("utilisation", Severity.CRITICAL)], 30),
        ("Standard_S1", 100, 95_000, [("utilisation", Severity.CRITICAL)], None),
        ("Premium_P1", 10, 8_500, [("utilisation", Severity.WARNING)], 20),
        ("Premium_P2", 100, 50_000, [], None),
        ("Premium_P2", 100, 85_000, [("utilisation", Severity.WARNING)], 200),
        ("Premium_P2", 300, 290_000, [("utilisation", Severity.CRITICAL)], 500),
        ("Premium_P2", 1000, 950_000, [("utilisation", Severity.CRITICAL)], None),
        ("Free_F1", 1, 10, [], None),
        ("Free_F1", 1, 16, [("utilisation", Severity.WARNING)], None),
        ("Free_F1", 1, 20, [("free-at-cap", Severity.CRITICAL)], None),
    ],
)
def test_utilisation_at_allowed_steps(sku, units, peak, expected, next_units):
    findings = run(observation(resource(sku, units), metrics=metrics({CONN: flat(peak)})))
    assert [(f.check, f.severity) for f in findings] == expected
    if not findings:
        return
    f = findings[0]
    cap = units * tiers.connections_per_unit(resource(sku))
    assert f.evidence["peak_connections"] == peak
    assert f.evidence["cap"] == cap
    assert f.evidence["units"] == units
    assert f.evidence["minutes_to_cap"] is None  # flat series: no projection
    assert f"{peak:,} of {cap:,} connections" in f.summary
    if next_units:
        assert f"Scale to {next_units} units" in f.guidance
        assert "WATCHDOG_SCALE=on" in f.guidance
    elif sku == "Standard_S1":
        assert "Already at the most units" in f.guidance and "Premium_P2" in f.guidance
    elif sku == "Premium_P2":
        assert "Already at the most units" in f.guidance and "more resources" in f.guidance


def test_no_step_reaches_the_target_suggests_the_largest_and_beyond():
    f = only(run(observation(resource("Standard_S1", 90), metrics=metrics({CONN: flat(85_000)}))), "utilisation")
    assert "Scale to 100 units (cap 100,000 connections)" in f.guidance
    assert "Premium_P2" in f.guidance


def test_free_at_cap_explains_why_the_watchdog_does_not_upgrade():
    f = only(run(observation(resource("Free_F1"), metrics=metrics({CONN: flat(20)}))), "free-at-cap")
    assert "Standard_S1" in f.guidance
    assert "public IP" in f.guidance and "30-60 minutes" in f.guidance
    assert "will not" in f.guidance


def test_free_at_cap_from_quota_metric_alone():
    findings = run(observation(resource("Free_F1"), metrics=metrics({QUOTA: flat(100)})))
    assert [(f.check, f.severity) for f in findings] == [("free-at-cap", Severity.CRITICAL)]


def test_live_allowed_values_drive_the_next_step():
    obs = observation(resource("Standard_S1", 2), allowed_capacities=(1, 2, 5, 10), metrics=metrics({CONN: flat(1_900)}))
    assert "Scale to 5 units (cap 5,000 connections)" in only(run(obs), "utilisation").guidance


@pytest.mark.parametrize(
    "series, expected_pct, severity",
    [
        ({QUOTA: flat(92)}, 92, Severity.CRITICAL),  # quota alone is enough
        ({CONN: flat(500), QUOTA: flat(85)}, 85, Severity.WARNING),  # the larger of the two counts
        ({CONN: flat(850), QUOTA: flat(10)}, 85, Severity.WARNING),
    ],
)
def test_utilisation_is_the_larger_of_count_and_quota(series, expected_pct, severity):
    f = only(run(observation(metrics=metrics(series))), "utilisation")
    assert f.severity is severity
    assert f.evidence["utilisation_pct"] == expected_pct


@pytest.mark.parametrize(
    "obs_metrics, missing",
    [
        (None, [CONN, QUOTA]),  # no metrics at all
        (metrics({}), [CONN, QUOTA]),  # metrics missing from the answer
        (metrics({CONN: [None] * 30, QUOTA: [None] * 30}), []),  # present, but no data points
        (metrics({"ServerLoad:Maximum": flat(5)}), [CONN, QUOTA]),
    ],
)
def test_no_data_is_an_info_never_silence(obs_metrics, missing):
    findings = run(observation(metrics=obs_metrics))
    f = only(findings, "no-data")
    assert f.severity is Severity.INFO
    assert f.evidence["missing"] == missing
    assert "not judged" in f.summary
    assert len(findings) == 1


def test_no_data_stays_quiet_when_the_metrics_call_failed():
    err = ObservationError("metrics", "forbidden", "403", resource_id=resource().id, status=403)
    assert run(observation(metrics=None, errors=(err,))) == []


def test_sparse_points_are_judged_on_what_is_there():
    f = only(run(observation(metrics=metrics({CONN: [None, 950, None]}))), "utilisation")
    assert f.severity is Severity.CRITICAL and f.evidence["points"] == 1


def test_throttled_closes_are_critical_even_below_thresholds():
    findings = run(observation(metrics=metrics({CONN: flat(300)}, closes={"Throttled": 42, "Normal": 900})))
    f = only(findings, "throttled")
    assert f.severity is Severity.CRITICAL
    assert f.evidence["throttled_closes"] == 42
    assert "42 connections closed as Throttled" in f.summary
    assert [x.check for x in findings] == ["throttled"]


def test_throttled_on_free_tier_gives_upgrade_guidance():
    f = only(run(observation(resource("Free_F1"), metrics=metrics({CONN: flat(20)}, closes={"throttled": 3}))), "throttled")
    assert "Standard_S1" in f.guidance and "public IP" in f.guidance


def test_autoscale_guidance_replaces_scale_advice():
    obs = observation(autoscale=("wps-autoscale",), metrics=metrics({CONN: flat(950)}))
    f = only(run(obs), "utilisation")
    assert "wps-autoscale" in f.guidance and "will not scale" in f.guidance and "Scale to" not in f.guidance


@pytest.mark.parametrize("load, expected", [(69.9, []), (70, ["server-load"]), (99, ["server-load"])])
def test_server_load(load, expected):
    findings = run(observation(metrics=metrics({CONN: flat(10), "ServerLoad:Maximum": [20, load, 30]})))
    assert [f.check for f in findings] == expected
    if expected:
        assert findings[0].severity is Severity.WARNING and findings[0].evidence["peak_server_load_pct"] == load


# 20,000 messages/day of 2 KB over a 30-minute window = 853,333 bytes.
@pytest.mark.parametrize(
    "sku, bytes_per_minute, expected",
    [("Free_F1", 800_000 / 30, []), ("Free_F1", 900_000 / 30, ["free-message-quota"]),
     ("Standard_S1", 900_000 / 30, [])],
)
def test_free_outbound_projection(sku, bytes_per_minute, expected):
    obs = observation(resource(sku), metrics=metrics({CONN: flat(1), "OutboundTraffic:Total": flat(bytes_per_minute)}))
    findings = run(obs)
    assert [f.check for f in findings] == expected
    if expected:
        f = findings[0]
        assert f.severity is Severity.WARNING
        assert f.evidence["messages"] == 440  # ceil(900,000 / 2,048)
        assert f.evidence["projected_per_day"] == 21_120
        assert "21,120/day" in f.summary


def test_rising_trend_projects_when_the_cap_is_reached():
    rising = [600 + 10 * i for i in range(30)]  # 890 at NOW, +10 per minute
    f = only(run(observation(metrics=metrics({CONN: rising}))), "utilisation")
    assert f.evidence["minutes_to_cap"] == pytest.approx(11, abs=0.01)
    assert f.evidence["cap_eta"] == "2026-03-01T12:11+00:00"
    assert "cap in ~11 min" in f.summary


@pytest.mark.parametrize(
    "values, limit, expected",
    [([1, 2], 10, None),  # too few points
     ([5, 5, 5], 10, None),  # flat
     ([9, 7, 5], 10, None),  # falling
     ([10, 11, 12], 10, None),  # already past
     ([1, 2, 3], 10, 7.0)],
)
def test_minutes_to_limit(values, limit, expected):
    from tests.factories import points
    pts = [(p.time, p.value) for p in points(values)]
    assert capacity.minutes_to_limit(pts, limit, NOW) == (pytest.approx(expected) if expected else None)


@pytest.mark.parametrize(
    "tags, peak, expected",
    [
        ({"watchdog-capacity-warn": "50"}, 500, [("utilisation", Severity.WARNING)]),
        ({"watchdog-capacity-warn": "50", "watchdog-capacity-crit": "60%"}, 600, [("utilisation", Severity.CRITICAL)]),
        ({"watchdog-capacity-crit": "95"}, 920, [("utilisation", Severity.WARNING)]),
        ({"watchdog-capacity-warn": "lots"}, 500, [("bad-threshold-tag", Severity.INFO)]),
        ({"watchdog-capacity-warn": "0"}, 850, [("bad-threshold-tag", Severity.INFO), ("utilisation", Severity.WARNING)]),
        ({"watchdog-capacity-warn": "95"}, 920, [("bad-threshold-tag", Severity.INFO), ("utilisation", Severity.CRITICAL)]),
    ],
)
def test_threshold_tags_override_settings(tags, peak, expected):
    findings = run(observation(resource(tags=tags), metrics=metrics({CONN: flat(peak)})))
    assert [(f.check, f.severity) for f in findings] == expected
