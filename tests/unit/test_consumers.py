"""Consumers of bound secrets, pure parts: reference parsing, the status API's items, the rules,
the refresh plan, and the Microsoft.Web names against Microsoft's operations list."""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from tests.factories import NOW, SETTINGS, observation, resource, secret
from watchdog import permissions
from watchdog.checks import consumers as rules
from watchdog.collect import sites
from watchdog.consumers import STATUSES, Consumer, KeyVaultRef, Site, consumers_from_references, parse_reference, site_from_listed
from watchdog.models import Action, Outcome
from watchdog.remediate import consumer_refresh
from watchdog.remediate.plan import Plan, ScaleFacts
from watchdog.remediate.registry import ActContext, PlanContext

V1, V2 = "a" * 32, "b" * 32
OPERATIONS = Path(__file__).resolve().parents[1] / "data" / "azure" / "operations" / "Microsoft.Web.txt"
SITE_ID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-apps/providers/Microsoft.Web/sites/{}"


# --- reference parsing ---------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("@Microsoft.KeyVault(SecretUri=https://kv-prod.vault.azure.net/secrets/wps-conn/)", KeyVaultRef("kv-prod", "wps-conn")),
    ("@Microsoft.KeyVault(SecretUri=https://kv-prod.vault.azure.net/secrets/wps-conn)", KeyVaultRef("kv-prod", "wps-conn")),
    (f"@Microsoft.KeyVault(SecretUri=https://KV-Prod.vault.azure.net/secrets/wps-conn/{V1})",
     KeyVaultRef("kv-prod", "wps-conn", V1)),
    ("@Microsoft.KeyVault(VaultName=kv-prod;SecretName=wps-conn)", KeyVaultRef("kv-prod", "wps-conn")),
    (f" @Microsoft.KeyVault( VaultName = kv-prod ; SecretName = wps-conn ; SecretVersion = {V2} ) ",
     KeyVaultRef("kv-prod", "wps-conn", V2)),
    ("@microsoft.keyvault(vaultname=kv-prod;secretname=wps-conn)", KeyVaultRef("kv-prod", "wps-conn")),
    ("@Microsoft.KeyVault(SecretUri=https://kv-prod.vault.azure.cn/secrets/wps-conn)", KeyVaultRef("kv-prod", "wps-conn")),
    # Not references: plain values, wrong hosts, missing parts.
    ("Endpoint=https://x.webpubsub.azure.com;AccessKey=abc;Version=1.0;", None),
    ("@Microsoft.KeyVault(SecretUri=https://evil.example.com/secrets/wps-conn)", None),
    ("@Microsoft.KeyVault(VaultName=kv-prod)", None),
    ("@Microsoft.KeyVault(SecretName=wps-conn)", None),
    ("@Microsoft.KeyVault(SecretUri=https://kv-prod.vault.azure.net/keys/wps-conn)", None),
    ("", None),
])
def test_parse_reference(text, expected):
    assert parse_reference(text) == expected


def test_a_reference_matches_its_vault_and_secret_only():
    ref = KeyVaultRef("kv-prod", "wps-conn")
    assert ref.matches("https://kv-prod.vault.azure.net", "WPS-CONN")
    assert not ref.matches("https://kv-prod2.vault.azure.net", "wps-conn")
    assert not ref.matches("https://kv-prod.vault.azure.net", "wps-conn-2")


def test_site_from_the_sites_list():
    site = site_from_listed(sites.from_arm({"id": SITE_ID.format("api"), "name": "api", "kind": "functionapp,linux",
                                            "location": "westeurope",
                                            "properties": {"defaultHostName": "api.azurewebsites.net"}}))
    assert (site.name, site.resource_group, site.kind, site.default_host_name) == (
        "api", "rg-apps", "functionapp,linux", "api.azurewebsites.net")
    with pytest.raises(ValueError):
        site_from_listed(sites.from_arm({"id": "/subscriptions/x/providers/Microsoft.Web/sites/api"}))


def _item(setting: str, status: str = "Resolved", active: str | None = V1, **props) -> dict:
    body = {"reference": "@Microsoft.KeyVault(VaultName=kv-prod;SecretName=wps-conn)", "status": status,
            "vaultName": "kv-prod", "secretName": "wps-conn", "secretVersion": None, "activeVersion": active,
            "source": "KeyVault", **props}
    return {"id": f"{SITE_ID.format('api')}/config/configreferences/appsettings/{setting}", "name": setting,
            "properties": body}


def test_consumers_from_the_reference_status_items():
    site = Site(SITE_ID.format("api"), "api", "rg-apps", "westeurope", "app")
    items = [
        _item("WebPubSub"),
        _item("Pinned", secretVersion=V1),
        _item("Broken", "AccessToKeyVaultDenied", None, details="denied"),
        _item("OtherSecret", secretName="other"),
        # No vaultName/secretName (e.g. InvalidSyntax answers): the reference text decides.
        {"name": "FromText", "properties": {"reference": "@Microsoft.KeyVault(SecretUri=https://kv-prod.vault.azure.net"
                                                         "/secrets/wps-conn/)", "status": "Initialized"}},
        {"name": "AppConfig", "properties": {"source": "AppConfig", "vaultName": "kv-prod", "secretName": "wps-conn"}},
    ]
    found = consumers_from_references(site, items, [("https://kv-prod.vault.azure.net", "wps-conn")], NOW)
    by_setting = {c.setting: c for c in found}
    assert sorted(by_setting) == ["Broken", "FromText", "Pinned", "WebPubSub"]
    assert by_setting["WebPubSub"].secret_uri == "https://kv-prod.vault.azure.net/secrets/wps-conn"
    assert by_setting["Pinned"].pinned_version == V1
    assert not by_setting["Broken"].usable and by_setting["Broken"].details == "denied"
    assert by_setting["FromText"].usable and by_setting["FromText"].active_version is None


# --- rules ---------------------------------------------------------------------------------

def _consumer(setting: str = "WebPubSub", status: str = "Resolved", active: str | None = V1,
              pinned: str | None = None, site: str = "api") -> Consumer:
    return Consumer(SITE_ID.format(site), site, "app", setting, "https://kv-prod.vault.azure.net/secrets/wps-conn",
                    status, pinned, active, "why" if status != "Resolved" else "", NOW)


def _obs(*consumers: Consumer, version: str = V1, written_minutes_ago: float | None = 90):
    updated = None if written_minutes_ago is None else NOW - timedelta(minutes=written_minutes_ago)
    bound = dataclasses.replace(secret(updated_on=updated), version=version)
    return observation(resource(), secrets=(bound,), consumers=consumers)


CASES = [
    # (name, consumers, secret version, minutes since written, expected (check, severity) list)
    ("up to date", [_consumer()], V1, 90, []),
    ("not read", None, V1, 90, []),
    ("no consumers", [], V1, 90, []),
    ("stale past grace", [_consumer(active=V1)], V2, 61, [("stale", "warning")]),
    ("stale within grace", [_consumer(active=V1)], V2, 59, []),
    ("write time unknown", [_consumer(active=V1)], V2, None, []),
    ("resolved version unknown", [_consumer(active=None)], V2, 600, []),
    ("pinned to the current version", [_consumer(pinned=V1)], V1, 90, [("pinned-version", "warning")]),
    ("pinned to an old version", [_consumer(pinned=V1)], V2, 600, [("pinned-version", "warning")]),
    ("denied", [_consumer(status="AccessToKeyVaultDenied", active=None)], V1, 90,
     [("reference-failed", "critical")]),
    ("secret gone", [_consumer(status="SecretNotFound", active=None)], V1, 90, [("reference-failed", "critical")]),
    ("pinned version gone", [_consumer(status="SecretVersionNotFound", active=None, pinned=V2)], V1, 90,
     [("reference-failed", "critical")]),
    ("not resolved yet", [_consumer(status="Initialized", active=None)], V2, 600, []),
    ("two apps", [_consumer(site="a", active=V1), _consumer(site="b", active=V2)], V2, 600, [("stale", "warning")]),
]


@pytest.mark.parametrize("name, consumers, version, minutes, expected", CASES, ids=[c[0] for c in CASES])
def test_rules(name, consumers, version, minutes, expected):
    obs = _obs(version=version, written_minutes_ago=minutes)
    obs = dataclasses.replace(obs, consumers=None if consumers is None else tuple(consumers))
    settings = dataclasses.replace(SETTINGS, consumer_grace_minutes=60)
    found = rules.check(obs, settings, NOW)
    assert [(f.check, str(f.severity)) for f in found] == expected
    for f in found:
        assert f.rule == "consumers" and f.resource_id == obs.resource.id
        assert f.subject.startswith(SITE_ID.format("")[:-1]) and f.evidence["secret"].endswith("/secrets/wps-conn")


def test_a_failed_reference_names_the_status_the_api_gives():
    obs = _obs(_consumer(status="AccessToKeyVaultDenied", active=None))
    (f,) = rules.check(obs, SETTINGS, NOW)
    assert "AccessToKeyVaultDenied" in f.summary and f.evidence["status"] == "AccessToKeyVaultDenied"


def test_the_rule_is_registered_and_stale_names_the_refresh_as_its_remedy():
    from watchdog.checks import registry
    from watchdog.checks.registry import Source

    rule = registry.rule(rules.RULE)
    assert {c.id for c in rule.checks} == {rules.REFERENCE_FAILED, rules.PINNED_VERSION, rules.STALE}
    assert all({Source.SECRETS, Source.CONSUMERS} <= c.needs and c.title and c.guidance for c in rule.checks)
    assert rules.REMEDY == consumer_refresh.KIND
    assert {"Resolved", "Initialized", "AccessToKeyVaultDenied", "SecretNotFound"} <= set(STATUSES)


# --- the refresh plan ----------------------------------------------------------------------

URI = "https://kv-prod.vault.azure.net/secrets/wps-conn"


def _synced(obs, version: str, verified: bool = True, status: str = "done") -> Outcome:
    action = Action("secret-sync", obs.resource.id, URI, "drift")
    return Outcome(action, status, after={"version": version}, verified=verified)


def test_secret_sync_plans_one_refresh_per_site_expecting_the_written_version():
    obs = _obs(_consumer("A", site="api"), _consumer("B", site="api"), _consumer(site="worker"),
               _consumer("Pinned", pinned=V1, site="legacy"), _consumer("Broken", "SecretNotFound", None, site="old"))
    out = Plan(actions=[Action("secret-sync", obs.resource.id, URI, "drift")])
    consumer_refresh.plan(obs, [], PlanContext(SETTINGS, ScaleFacts(), NOW), out)
    actions = [a for a in out.actions if a.kind == "consumer-refresh"]
    assert sorted((a.params["site"], tuple(a.params["settings"])) for a in actions) == [
        ("api", ("A", "B")), ("worker", ("WebPubSub",))]
    assert {consumer_refresh.expected(a, [_synced(obs, V2)]) for a in actions} == {V2}, "learnt from the sync"


@pytest.mark.parametrize("verified, status", [(False, "done"), (None, "skipped"), (True, "failed"), (None, "planned")])
def test_no_version_to_expect_after_a_sync_that_did_not_succeed(verified, status):
    obs = _obs(_consumer())
    (action,) = consumer_refresh.targets(obs, [], [URI])
    assert consumer_refresh.expected(action, [_synced(obs, V2, verified, status)]) is None
    ctx = ActContext(clients=None, ledger=None, settings=SETTINGS, now=NOW, prior=(_synced(obs, V2, verified, status),))
    result = consumer_refresh.recheck(action, obs, ctx)  # refuses before any call (clients is None)
    assert result.status == "skipped" and result.guard == consumer_refresh.G_NO_VERSION


def test_a_stale_finding_plans_a_refresh_answering_it():
    obs = _obs(_consumer(active=V1), _consumer(site="fresh", active=V2), version=V2, written_minutes_ago=600)
    findings = rules.check(obs, SETTINGS, NOW)
    (action,) = consumer_refresh.targets(obs, findings)
    assert action.params["site"] == "api" and consumer_refresh.expected(action, []) == V2
    assert action.finding == findings[0].fingerprint
    from watchdog.checks.registry import remedy

    assert remedy(findings[0]) == consumer_refresh.KIND


def test_nothing_to_refresh_without_consumers_read():
    obs = _obs(version=V2)
    assert consumer_refresh.targets(dataclasses.replace(obs, consumers=None), [], [URI]) == []


# --- names from Microsoft --------------------------------------------------------------------

def test_microsoft_web_actions_are_in_microsofts_operations_list():
    listed = {line.strip().lower() for line in OPERATIONS.read_text().splitlines() if line and not line.startswith(("#", "["))}
    web = [a for f in permissions.FEATURES for a in f.actions if a.lower().startswith("microsoft.web/")]
    assert web, "the manifest names the Microsoft.Web rights the consumers need"
    assert [a for a in web if a.lower() not in listed] == []
    assert "microsoft.web/sites/config/list/action" not in {a.lower() for a in web}, "never the settings' values"


def test_holdouts_are_the_consumers_not_proven_on_the_version():
    from watchdog.consumers import holdouts

    uri = "https://kv-prod.vault.azure.net/secrets/wps-conn"
    moved, behind = _consumer("A", active=V2), _consumer("B", active=V1)
    failed, waiting = _consumer("C", "AccessToKeyVaultDenied", None), _consumer("D", "Initialized", None)
    pinned_there, pinned_old = _consumer("E", active=V2, pinned=V2), _consumer("F", active=V1, pinned=V1)
    other = dataclasses.replace(_consumer("G", active=V1), secret_uri="https://kv-prod.vault.azure.net/secrets/other")
    everyone = [moved, behind, failed, waiting, pinned_there, pinned_old, other]
    assert [c.setting for c in holdouts(everyone, uri.upper(), V2)] == ["B", "C", "D", "F"]
    assert holdouts([moved, pinned_there], uri, V2) == []
    assert [c.setting for c in holdouts([moved], uri, None)] == ["A"]
