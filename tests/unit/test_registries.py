"""The three registries: rules, remediations and notifiers are data the rest of the code reads.

What a new rule, remediation or notifier gets for free (README tables, settings, permissions,
target kinds) is checked here against the registries, so adding one cannot leave a seam behind.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.factories import NOW, SETTINGS, SUB, action, observation, resource
from watchdog import checks, permissions, settings
from watchdog.checks import posture
from watchdog.checks import registry as rules
from watchdog.checks._common import finding
from watchdog.config import ConfigError
from watchdog.models import Severity
from watchdog.notify import registry as notifiers
from watchdog.notify import targets
from watchdog.notify.delivery import DeliveryResult, DeliveryStatus
from watchdog.notify.registry import Notifier, Payload
from watchdog.remediate import registry as remediations

ROOT = Path(__file__).resolve().parents[2]


# --- rules --------------------------------------------------------------------------------------

def test_every_rule_declares_unique_checks_with_what_they_need():
    assert [r.name for r in rules.rules()] == [
        "key-drift", "capacity", "upstream", "posture", "connectivity", "consumers", "rotation", "network", "hubs",
        "replicas", "blind-spot"]
    for rule in rules.rules():
        ids = [c.id for c in rule.checks]
        assert len(ids) == len(set(ids)), f"{rule.name} declares a check twice"
        for c in rule.checks:
            assert c.title and c.rule == rule.name
            assert all(isinstance(s, rules.Source) for s in c.needs)
            if rule.evaluate is not None:  # a per-resource verdict is made from something observed
                assert c.needs, f"{rule.name}/{c.id}: say what it needs from collection"


def test_every_remedy_a_check_names_is_a_registered_remediation():
    named = {c.remedy for r in rules.rules() for c in r.checks if c.remedy}
    assert named == {"secret-sync", "consumer-refresh", "rotate", "scale", "alerts"}
    assert named <= set(remediations.kinds())


def test_a_finding_is_looked_up_by_its_check_placeholders_included():
    assert rules.check("key-drift", "stale-key").remedy == "secret-sync"
    assert rules.check("blind-spot", "metrics-forbidden").id == "<source>-<kind>"
    assert rules.check("blind-spot", "keys-deferred").id == "<source>-deferred"
    assert rules.check("blind-spot", "rule-error").id == "rule-error"
    with pytest.raises(KeyError, match="no-such-check"):
        rules.check("posture", "no-such-check")
    with pytest.raises(KeyError, match="nope"):
        rules.check("nope", "x")


def test_a_finding_must_match_its_declared_check():
    with pytest.raises(ValueError, match="severity"):
        finding(posture.LOCAL_AUTH, "/r", "/r", "s", {}, severity=Severity.CRITICAL)
    with pytest.raises(ValueError, match="not an id"):
        finding(posture.LOCAL_AUTH, "/r", "/r", "s", {}, check_id="other")
    f = finding(posture.LOCAL_AUTH, "/r", "/r", "s", {})
    assert (f.rule, f.check, f.severity, f.guidance) == ("posture", "local-auth", Severity.INFO,
                                                         posture.LOCAL_AUTH.guidance)


def test_a_rule_registered_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        rules.register(rules.rule("posture"))


def test_a_registered_rule_runs_in_diagnose(monkeypatch):
    extra = rules.Check("demo", "always", Severity.INFO, "always", frozenset({rules.Source.INVENTORY}))
    demo = rules.Rule("demo", (extra,), lambda obs, s, now: [finding(extra, obs.resource.id, "x", "hello", {})])
    monkeypatch.setitem(rules._RULES, "demo", demo)
    found = checks.diagnose([observation(resource(disable_local_auth=True))], [], SETTINGS, NOW)
    assert ("demo", "always") in [(f.rule, f.check) for f in found]


def test_readme_rule_tables_are_generated_from_the_registry():
    import importlib.util
    spec = importlib.util.spec_from_file_location("render_readme", ROOT / "infra/scripts/render_readme.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    text = (ROOT / "README.md").read_text()
    assert render.render(text) == text, "README.md is stale: run python infra/scripts/render_readme.py"
    assert rules.markdown() in text


# --- remediations -------------------------------------------------------------------------------

def test_remediations_in_their_order_with_their_settings_and_rights():
    assert remediations.kinds() == ("secret-sync", "consumer-refresh", "rotate", "scale", "alerts", "scale-in")
    names = {s.name: s for s in settings.SETTINGS}
    for r in remediations.remediations():
        assert names[r.setting.name] == r.setting, f"{r.kind}: its mode setting is not in settings.SETTINGS"
        default = getattr(settings.Settings(subscriptions=(SUB,)), r.attr)
        # An empty row default means "derived" (consumer refresh follows WATCHDOG_SECRET_SYNC).
        assert default == (r.setting.default or settings.Settings(subscriptions=(SUB,)).secret_sync), \
            f"{r.kind}: Settings.{r.attr} default differs from its Setting row"
        assert set(r.permissions) <= set(permissions.FEATURES)
        assert all(f.writes for f in r.permissions), f"{r.kind} writes: report-only must leave its rights out"


def test_modes_come_from_the_registry():
    configured = settings.Settings(subscriptions=(SUB,)).modes()
    assert configured == {"secret-sync": "plan", "consumer-refresh": "plan", "rotate": "off", "scale": "plan",
                          "alerts": "off", "scale-in": "off"}


def test_an_unknown_kind_is_an_error_never_another_executor():
    with pytest.raises(remediations.UnknownRemediation, match="rotate-keys"):
        remediations.get("rotate-keys")
    # run() fails before touching any client: None here would crash any real executor differently.
    with pytest.raises(remediations.UnknownRemediation):
        remediations.run(action(kind="scale-out-please"), observation(resource()),
                         remediations.ActContext(clients=None, ledger=None, settings=SETTINGS, now=NOW))


def test_an_unknown_kind_fails_its_action_in_the_remediation_stage(tmp_path):
    from watchdog.ledger.sqlite import SqliteLedger
    from watchdog.remediate import _run

    with SqliteLedger(str(tmp_path / "l.sqlite3")) as ledger:
        ctx = remediations.ActContext(clients=None, ledger=ledger, settings=SETTINGS, now=NOW)
        out = _run(action(kind="rotate-keys"), observation(resource()), ctx, "sweep-1")
        assert out.status == "failed" and "rotate-keys" in out.reason
        assert [e.status for e in ledger.actions()] == ["failed"]  # the intent entry, updated


# --- notifiers ----------------------------------------------------------------------------------

def test_target_kinds_are_the_registered_notifiers():
    assert targets.KINDS == notifiers.kinds() == ("teams", "webhook")
    assert [n.kind for n in notifiers.notifiers() if n.signs] == ["webhook"]
    with pytest.raises(KeyError, match="slack"):
        notifiers.get("slack")


def test_a_new_notifier_is_one_registration(monkeypatch):
    sent = []

    def deliver(target, payload, deadline, **http):
        sent.append((target.name, payload.body, payload.delivery_id))
        return DeliveryResult(DeliveryStatus.DELIVERED, 200, 1, "ok")

    pager = Notifier("pager", lambda message: Payload(message.headline.encode(), message.delivery_id), deliver)
    monkeypatch.setitem(notifiers._KINDS, "pager", pager)
    env = {"WATCHDOG_NOTIFY_TARGETS": "oncall", "WATCHDOG_NOTIFY_ONCALL_KIND": "pager",
           "WATCHDOG_NOTIFY_ONCALL_URL": "https://pager.example.com/in"}
    target = targets.load_notify_config(env).targets["oncall"]
    assert target.kind == "pager"

    class Msg:
        headline, delivery_id = "2 new", "d-1"

    assert notifiers.send(target, Msg(), deadline=10.0).status is DeliveryStatus.DELIVERED
    assert sent == [("oncall", b"2 new", "d-1")]


def test_an_unregistered_kind_names_the_registered_ones():
    env = {"WATCHDOG_NOTIFY_TARGETS": "ops", "WATCHDOG_NOTIFY_OPS_KIND": "slack",
           "WATCHDOG_NOTIFY_OPS_URL": "https://hooks.example.com/x"}
    with pytest.raises(ConfigError, match="teams or webhook"):
        targets.load_notify_config(env)


def test_the_plan_follows_the_remedy_a_check_declares(monkeypatch):
    """Secret sync plans for any finding whose check names it, whatever the check is called."""
    from tests.factories import keys, secret
    from watchdog.models import DataPlaneProof
    from watchdog.remediate import plan as plan_mod

    stale = secret("fp-old", proof=DataPlaneProof(401, "rejected"))
    obs = observation(resource(), keys=keys(), secrets=(stale,))
    modes = {"secret-sync": "plan"}
    check = rules.Check("demo", "rotated-elsewhere", Severity.WARNING, "demo", frozenset({rules.Source.SECRETS}))
    monkeypatch.setitem(rules._RULES, "demo", rules.Rule("demo", (check,), None))
    f = finding(check, obs.resource.id, stale.uri, "rotated elsewhere", {})
    assert plan_mod.plan([obs], [f], SETTINGS, modes, {}, NOW).actions == []  # no remedy declared
    monkeypatch.setitem(rules._RULES, "demo", rules.Rule("demo", (replace(check, remedy="secret-sync"),), None))
    [planned] = plan_mod.plan([obs], [f], SETTINGS, modes, {}, NOW).actions
    assert (planned.kind, planned.subject, planned.finding) == ("secret-sync", stale.uri, f.fingerprint)


def test_every_guard_is_defined_once_and_documented():
    from watchdog.remediate import guards

    names = [v for k, v in vars(guards).items() if k.isupper()]
    assert len(names) == len(set(names)), "two guard constants share a name"
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| guard | stops | when |"):].split("\n\n")[0]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert set(names) == documented, f"README guards table: missing {set(names) - documented}, " \
                                     f"unknown {documented - set(names)}"
