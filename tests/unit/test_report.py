import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from tests.factories import NOW, SETTINGS, keys, metrics, observation, resource, secret
from tests.unit.test_checks_diagnose import PLANTED, _leaky_world
from watchdog import checks, report
from watchdog.models import (
    Action, DataPlaneProof, Finding, ObservationError, Outcome, Report, Sensitive, Severity,
)

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report-schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def make_report(findings=(), **kw) -> Report:
    kw.setdefault("resources", [resource(), resource("Free_F1", name="wps-dev")])
    return Report(started_at=NOW, finished_at=NOW + timedelta(seconds=2.5), subscriptions=(SETTINGS.subscriptions[0],),
                  mode={"secret-sync": "plan", "scale": "on"}, findings=list(findings), **kw)


def f(severity: Severity, name="wps-prod", check="c") -> Finding:
    return Finding("capacity", check, severity, resource(name=name).id, "TotalConnectionCount:Maximum",
                   f"{severity} summary", {"peak": 950, "ratio": 0.95, "list": ["a", "b"], "none": None}, "do this")


def full_report() -> Report:
    err = ObservationError("metrics", "forbidden", "403", resource().id, status=403)
    obs = [
        observation(resource(disable_local_auth=False), keys=keys(),
                    secrets=(secret("fp-old", proof=DataPlaneProof(401, "rejected")),),
                    metrics=metrics({"TotalConnectionCount:Maximum": [850] * 5})),
        observation(resource("Free_F1", name="wps-dev"), metrics=metrics({"TotalConnectionCount:Maximum": [20] * 5})),
    ]
    findings = checks.diagnose(obs, [err], SETTINGS, NOW)
    action = Action("scale", resource().id, "capacity", "peak 850 of 1,000", {"from": 1, "to": 2}, findings[0].fingerprint)
    return make_report(
        findings, errors=[err],
        outcomes=[Outcome(action, "planned", "mode plan", before={"units": 1}, after={}, at=NOW),
                  Outcome(Action("secret-sync", resource().id, "https://kv-prod.vault.azure.net/secrets/wps-conn",
                                 "stale", {"key": "primary", "value": Sensitive(PLANTED)}), "done", verified=True,
                          proof="404 with the new key")],
        notifications=[{"target": "teams", "status": "delivered", "new": 2}],
        api_calls={"arm": 7, "metrics": 1}, timings={"collect": 1.25, "diagnose": 0.01},
    )


@pytest.mark.parametrize(
    "severities, code, status",
    [((), 0, "healthy"), ((Severity.INFO,), 0, "healthy"), ((Severity.INFO, Severity.WARNING), 1, "warnings"),
     ((Severity.WARNING, Severity.CRITICAL, Severity.INFO), 2, "critical"), ((Severity.CRITICAL,), 2, "critical")],
)
def test_exit_code(severities, code, status):
    r = make_report([f(s) for s in severities])
    assert report.exit_code(r) == code
    assert report.status(r) == status
    assert report.to_dict(r)["summary"]["exit_code"] == code


def test_exit_codes_are_distinct_and_documented_values():
    assert (report.EXIT_HEALTHY, report.EXIT_WARNINGS, report.EXIT_CRITICAL, report.EXIT_USAGE,
            report.EXIT_CONFIG) == (0, 1, 2, 3, 4)


@pytest.mark.parametrize("build", [full_report, make_report, lambda: Report(started_at=NOW)])
def test_json_validates_against_the_documented_schema(build):
    doc = json.loads(report.render_json(build()))
    VALIDATOR.validate(doc)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["findings"][0].update(severity="fatal"),
        lambda d: d["findings"][0].pop("summary"),
        lambda d: d["findings"][0]["evidence"].update(nested={"a": 1}),
        lambda d: d["summary"].update(exit_code=5),
        lambda d: d.pop("errors"),
        lambda d: d.update(schema="watchdog-report/2"),
    ],
)
def test_schema_rejects_a_broken_document(breakage):
    doc = json.loads(report.render_json(full_report()))
    breakage(doc)
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(doc)


def test_json_content():
    r = full_report()
    doc = report.to_dict(r)
    assert doc["summary"]["findings"] == {"critical": 2, "warning": 2, "info": 2}
    assert doc["summary"]["status"] == "critical" and doc["summary"]["worst"] == "critical"
    assert doc["summary"]["actions"] == {"planned": 1, "done": 1}
    assert doc["duration_seconds"] == 2.5
    assert [x["check"] for x in doc["findings"]] == [x.check for x in r.findings]  # order kept
    assert doc["findings"][0]["fingerprint"] == r.findings[0].fingerprint
    assert doc["outcomes"][1]["action"]["params"]["value"] == "<redacted>"
    assert doc["outcomes"][0]["at"] == NOW.isoformat()


def test_text_groups_by_severity_with_a_summary_line():
    text = report.render_text(full_report())
    lines = text.splitlines()
    assert lines[1].startswith("CRITICAL (exit 2): 2 critical, 2 warning, 2 info; 2 resource(s)")
    positions = [text.index(h) for h in ("\nCRITICAL (2)", "\nWARNING (2)", "\nINFO (2)", "\nACTIONS (2)")]
    assert positions == sorted(positions)
    assert "key-drift/stale-key" in text and "fix: " in text and "evidence: " in text
    assert "planned  scale wps-prod capacity from=1 to=2" in text
    assert "API calls: 8 (arm 7, metrics 1)" in text
    assert "\033[" not in text
    assert "  * wps-dev  posture/local-auth\n" in text  # a subject equal to the resource id is not repeated


def test_text_colour_only_when_asked():
    r = make_report([f(Severity.CRITICAL)])
    assert "\033[31m" in report.render_text(r, color=True)
    assert "\033[" not in report.render_text(r)


def test_text_healthy_report_says_so():
    text = report.render_text(make_report())
    assert "HEALTHY (exit 0): 0 critical, 0 warning, 0 info" in text and "No findings." in text
    assert "wps-dev  Free_F1 x1  westeurope  ok" in text


def test_markdown():
    md = report.render_markdown(full_report())
    assert md.startswith("# Web PubSub watchdog report\n")
    assert "**critical** (exit 2)" in md
    assert md.index("## Critical (2)") < md.index("## Warning (2)") < md.index("## Info (2)")
    assert "| planned | scale `from=1 to=2` | wps-prod |" in md
    assert "Standard\\_S1" in md  # escaped outside code spans
    assert "`az webpubsub update -g <rg> -n wps-dev --sku Standard_S1 --unit-count 1`" in md  # code span untouched


def test_render_dispatch_and_unknown_format():
    r = make_report()
    assert report.render(r, "json") == report.render_json(r)
    assert report.render(r, "markdown") == report.render_markdown(r)
    with pytest.raises(ValueError, match="text, json, markdown"):
        report.render(r, "xml")


@pytest.mark.parametrize("fmt", report.FORMATS)
def test_no_rendering_contains_a_planted_key(fmt):
    r = full_report()
    r.findings = checks.diagnose([_leaky_world()], [], SETTINGS, NOW) + r.findings
    out = report.render(r, fmt)
    assert PLANTED not in out
    assert "<redacted>" in out or "\\<redacted\\>" in out


def test_text_report_gives_one_line_per_notification_target() -> None:
    rendered = report.render_text(make_report(notifications=[
        {"target": "teams", "kind": "teams", "status": "delivered", "http_status": 202,
         "counts": {"firing": 3, "fixed": 1, "reminder": 0, "resolved": 0}, "detail": "HTTP 202", "items": [{"x": 1}]},
        {"target": "ops", "kind": "webhook", "status": "retryable", "http_status": 503,
         "counts": {"firing": 2}, "detail": "HTTP 503 from https://hooks.contoso.com/w, retried 3 times"},
    ]))
    assert "  teams (teams): delivered HTTP 202; 3 firing, 1 fixed\n" in rendered
    assert "  ops (webhook): retryable HTTP 503; 2 firing; HTTP 503 from https://hooks.contoso.com/w, retried 3 times\n" in rendered
    assert "items" not in rendered


def test_outcomes_show_their_guard_and_proof_in_text_and_json() -> None:
    scale = Action("scale", "/subscriptions/s/resourceGroups/g/providers/Microsoft.SignalRService/WebPubSub/free-dev",
                   "capacity", "at cap")
    sync = Action("secret-sync", scale.resource_id, "https://kv.vault.azure.net/secrets/s", "stale key")
    rep = make_report(outcomes=[
        Outcome(scale, "skipped", reason="Free tier: upgrade by hand", guard="free-tier"),
        Outcome(sync, "done", reason="wrote version abc", verified=True, proof="the service accepted the new key (404)"),
    ])
    text = report.render_text(rep)
    assert "skipped (free-tier) scale" in text
    assert "    verified: the service accepted the new key (404)" in text
    document = json.loads(report.render_json(rep))
    assert [o["guard"] for o in document["outcomes"]] == ["free-tier", None]
    assert not list(VALIDATOR.iter_errors(document))
