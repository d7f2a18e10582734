"""Consumers of bound secrets end to end: the watchdog's ARM pipeline (real azure-core, real
credential) against the emulator's App Service sites, Key Vault and Web PubSub data plane.

The demo scenario's vault kv-demo-contoso holds notify-prod-connection (valid, secondary key of
notify-prod, logged to workspace law-demo) and chat-prod-connection (a stale key of chat-prod).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from watchdog.azure import AzureClients
from watchdog.checks import consumers as rules
from watchdog.checks import diagnose
from watchdog.checks.blind_spots import check_errors
from watchdog.collect import consumers as collect
from watchdog.collect.caches import Caches
from watchdog.remediate import consumer_refresh
from watchdog.remediate import plan as policy
from watchdog.remediate.registry import ActContext
from watchdog.remediate.registry import run as run_action

from .sweep_helpers import observe_by_name, settings_for

pytestmark = pytest.mark.integration

VAULT = "https://kv-demo-contoso.vault.azure.net"
NOTIFY = "notify-prod-connection"
CHAT = "chat-prod-connection"


def ref(secret: str, version: str = "") -> str:
    return f"@Microsoft.KeyVault(SecretUri={VAULT}/secrets/{secret}/{version})"


def current(emulator, secret: str) -> str:  # noqa: ANN001
    return emulator.world.vaults["kv-demo-contoso"].latest(secret).version


@pytest.fixture
def demo(emulator, monkeypatch):  # noqa: ANN001
    """The demo as it ships: its apps chat-api (reads chat-prod-connection) and notify-func."""
    settings = settings_for(emulator, monkeypatch)
    clients = AzureClients(settings)
    yield emulator, settings, clients
    clients.close()


@pytest.fixture
def env(demo):  # noqa: ANN001
    """The demo without its apps: each test adds the ones it needs."""
    emulator = demo[0]
    with emulator.world.lock:
        emulator.world.sites.clear()
    return demo


def observe(settings, clients, emulator, name: str):  # noqa: ANN001
    """One resource's observation as the sweep collects it (consumers included), judged at the
    emulator's time, and the errors of that read."""
    obs, general = observe_by_name(settings, now=emulator.now())
    return obs[name], [*general, *(e for e in obs[name].errors if e.source == collect.SOURCE)]


def test_discovery_failing_and_pinned_references(env):
    emulator, settings, clients = env
    pinned = current(emulator, NOTIFY)
    emulator.add_site("orders-api", {"WebPubSub": ref(NOTIFY), "Greeting": "hello"})
    emulator.add_site("orders-func", {"WebPubSubConnection": f"@Microsoft.KeyVault(VaultName=kv-demo-contoso;"
                                                            f"SecretName={NOTIFY})"}, kind="functionapp")
    emulator.add_site("legacy-app", {"WebPubSub": ref(NOTIFY, pinned)})
    emulator.add_site("locked-out", {"WebPubSub": ref(NOTIFY)}, denied=("WebPubSub",))
    emulator.add_site("unrelated", {"Other": ref("some-other-secret")})

    obs, errors = observe(settings, clients, emulator, "notify-prod")
    assert errors == []
    by_site = {c.site_name: c for c in obs.consumers}
    assert sorted(by_site) == ["legacy-app", "locked-out", "orders-api", "orders-func"]
    assert by_site["orders-api"].status == by_site["orders-func"].status == "Resolved"
    assert by_site["orders-api"].active_version == pinned and by_site["orders-func"].kind == "functionapp"
    assert by_site["locked-out"].status == "AccessToKeyVaultDenied" and by_site["locked-out"].active_version is None

    found = {(f.check, f.evidence["site"]) for f in rules.check(obs, settings, emulator.now())}
    assert found == {("reference-failed", "locked-out"), ("pinned-version", "legacy-app")}
    # One sites list per subscription, one status read per site, never a setting's value.
    journal = emulator.journal
    assert len(journal.where(op="web.list")) == 1 and len(journal.where(op="web.references")) == 5
    assert not journal.where(path=lambda p: "/config/appsettings/list" in p.lower() or p.lower().endswith("/list"))


def test_a_blind_read_reports_the_missing_right_and_judges_nothing(env):
    emulator, settings, clients = env
    site = emulator.add_site("orders-api", {"WebPubSub": ref(NOTIFY)})
    emulator.deny("arm", site.id, "Microsoft.Web/sites/config/Read")
    obs, errors = observe(settings, clients, emulator, "notify-prod")
    assert obs.consumers is None and rules.check(obs, settings, emulator.now()) == []
    (error,) = errors  # on the resource whose consumers it hid, naming the site and the right
    assert error.kind == "forbidden" and error.permission == "Microsoft.Web/sites/config/Read"
    assert error.resource_id == obs.resource.id and error.subject == site.id
    (spot,) = [f for f in check_errors(list(obs.errors), emulator.now()) if f.evidence["source"] == "consumers"]
    assert spot.check == "consumers-forbidden" and "Microsoft.Web/sites/config/Read" in spot.guidance


def test_stale_until_refreshed_then_verified(env):
    emulator, settings, clients = env
    old = current(emulator, NOTIFY)
    emulator.add_site("orders-api", {"WebPubSub": ref(NOTIFY)})
    vault = emulator.world.vaults["kv-demo-contoso"]
    value = vault.latest(NOTIFY).value
    new = vault.set_secret(NOTIFY, value, tags=dict(vault.latest(NOTIFY).tags)).version  # someone rewrites it

    obs, _ = observe(settings, clients, emulator, "notify-prod")
    assert rules.check(obs, settings, emulator.now()) == [], "within the grace period"
    emulator.advance_clock(timedelta(minutes=settings.consumer_grace_minutes + 5))
    obs, _ = observe(settings, clients, emulator, "notify-prod")
    (stale,) = rules.check(obs, settings, emulator.now())
    assert stale.check == "stale" and stale.evidence["active_version"] == old
    assert stale.evidence["current_version"] == new

    (action,) = consumer_refresh.targets(obs, [stale])
    result = run_action(action, obs, ActContext(clients, None, settings, emulator.now()))
    assert result.status == "done" and result.verified, result.reason
    assert result.before["active_versions"] == {"WebPubSub": old}
    assert result.after["active_versions"] == {"WebPubSub": new}
    assert len(emulator.journal.where(op="web.refreshReferences")) == 1 and not emulator.journal.where(op="web.restart")
    web_writes = [e.op for e in emulator.journal.writes() if e.op.startswith("web.")]
    assert web_writes == ["web.refreshReferences"], "a refresh is a write; the status reads are not"

    obs, _ = observe(settings, clients, emulator, "notify-prod")
    assert rules.check(obs, settings, emulator.now()) == []
    again = run_action(action, obs, ActContext(clients, None, settings, emulator.now()))
    assert again.status == "skipped" and again.guard == consumer_refresh.G_CURRENT


def test_secret_sync_then_refresh_makes_the_apps_resolve_the_written_version(demo):
    emulator, settings, clients = demo
    emulator.add_site("chat-worker", {"Conn": f"@Microsoft.KeyVault(VaultName=kv-demo-contoso;SecretName={CHAT})"},
                      kind="functionapp")
    assert {n: c.status for n, c in emulator.consume_all().items()} == {"chat-api": 401, "notify-func": 202}, \
        "the stored chat key is stale: chat-api is down"

    obs, _ = observe(settings, clients, emulator, "chat-prod")
    findings = diagnose([obs], [], settings, emulator.now())
    (sync,) = [a for a in policy.plan([obs], findings, settings, {"secret-sync": "on"}, {}, emulator.now()).actions
               if a.kind == "secret-sync"]
    synced = run_action(sync, obs, ActContext(clients, None, settings, emulator.now()))  # secret sync keeps no ledger state
    assert synced.status == "done" and synced.verified
    written = synced.after["version"]
    assert emulator.consume("chat-api").status == 401, "the secret is right, the app still holds the old value"

    actions = consumer_refresh.targets(obs, findings, [synced.action.subject])
    assert sorted(a.params["site"] for a in actions) == ["chat-api", "chat-worker"]
    ctx = ActContext(clients, None, settings, emulator.now(), prior=(synced,))
    results = [run_action(a, obs, ctx) for a in actions]
    assert [(r.status, r.verified) for r in results] == [("done", True), ("done", True)]
    assert all(r.after["active_versions"] == {s: written for s in r.action.params["settings"]} for r in results)
    assert emulator.consume("chat-api").status == 202, "the refreshed app's calls are accepted"
    res = emulator.world.resource_by_name("chat-prod")
    text = repr(results) + repr([r.before for r in results]) + repr([r.after for r in results])
    assert not [k for k in (res.key("primary"), res.key("secondary")) if k in text], "no key in an outcome"


def test_pinned_reference_is_never_refreshed_and_restart_only_when_allowed(env):
    emulator, settings, clients = env
    emulator.add_site("orders-api", {"WebPubSub": ref(NOTIFY)})
    obs, _ = observe(settings, clients, emulator, "notify-prod")
    (action,) = consumer_refresh.targets(obs, [], [_uri(obs)])
    never = "f" * 32  # a version that never resolves
    result = consumer_refresh.execute(action, clients, False, emulator.now(), never, sleep=lambda s: None)
    assert result.status == "done" and result.verified is False and "not restarted" in result.reason
    assert not emulator.journal.where(op="web.restart")
    restarting = replace(settings, consumer_restart=True)
    result = consumer_refresh.execute(action, clients, restarting.consumer_restart, emulator.now(), never,
                                      sleep=lambda s: None)
    assert result.verified is False and len(emulator.journal.where(op="web.restart")) == 1
    assert emulator.site("orders-api").restarts == 1

    emulator.add_site("legacy-app", {"WebPubSub": ref(NOTIFY, current(emulator, NOTIFY))})
    obs, _ = observe(settings, clients, emulator, "notify-prod")
    planned = consumer_refresh.targets(obs, [], [_uri(obs)])
    assert [a.params["site"] for a in planned] == ["orders-api"], "a pinned reference cannot be refreshed forward"


def _uri(obs) -> str:  # noqa: ANN001
    return next(s.uri for s in obs.secrets if s.name == NOTIFY)


def test_the_daily_refetch_follows_the_emulators_clock(env):
    emulator, settings, clients = env
    emulator.add_site("orders-api", {"WebPubSub": ref(NOTIFY)})
    vault = emulator.world.vaults["kv-demo-contoso"]
    # The secret's tag webpubsub-resource-id binds it to notify-prod: a new version keeps it.
    new = vault.set_secret(NOTIFY, vault.latest(NOTIFY).value, tags=dict(vault.latest(NOTIFY).tags)).version
    emulator.advance_clock(timedelta(hours=23))
    obs, _ = observe(settings, clients, emulator, "notify-prod")
    assert obs.consumers[0].active_version != new
    emulator.advance_clock(timedelta(hours=1, minutes=1))
    obs, _ = observe(settings, clients, emulator, "notify-prod")
    assert obs.consumers[0].active_version == new and not emulator.journal.where(op="web.refreshReferences")


def test_a_consumers_401s_reach_the_logs_after_its_key_is_regenerated(env):
    from azure.monitor.query import LogsQueryStatus

    emulator, settings, clients = env
    emulator.add_site("orders-api", {"WebPubSub": ref(NOTIFY)}, consumer="WebPubSub", hub="notifications")
    res = emulator.world.resource_by_name("notify-prod")
    assert emulator.consume("orders-api").status == 202

    emulator.advance_clock(timedelta(minutes=30))
    before = emulator.now()
    emulator.regenerate_key("notify-prod", "secondary")  # the key the app resolved
    assert emulator.consume("orders-api").status == 401
    assert emulator.consume("orders-api").status == 401

    workspace = next(w for w in emulator.world.workspaces.values() if w.name == "law-demo")
    answer = clients.logs().query_workspace(
        workspace.customer_id, 'WebPubSubHttpRequest | where StatusCode in ("401", "202")', timespan=timedelta(hours=2))
    assert answer.status == LogsQueryStatus.SUCCESS
    table = answer.tables[0]
    rows = [dict(zip(table.columns, row)) for row in table.rows]
    rejected = [r for r in rows if r["StatusCode"] == "401" and r["_ResourceId"] == res.id.lower()]
    accepted = [r for r in rows if r["StatusCode"] == "202" and r["_ResourceId"] == res.id.lower()]
    assert len(rejected) == 2 and len(accepted) == 1
    assert all(r["TimeGenerated"] >= before for r in rejected) and accepted[0]["TimeGenerated"] < before
    assert all("/api/hubs/notifications/:send" in r["Url"] and "?" not in r["Url"] for r in rejected)

    # The activity log has the regeneration, at the emulator's (time-travelled) time.
    monitor = clients.monitor(emulator.world.subscriptions[0])
    since = (before - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [e for e in monitor.activity_logs.list(filter=f"eventTimestamp ge '{since}'")
              if e.operation_name.value.lower().endswith("/regeneratekey/action") and e.resource_id.lower() == res.id.lower()]
    assert len(events) == 1 and events[0].event_timestamp >= before


def test_a_site_index_reads_only_consumers_again_until_it_ages(env):
    """The sweep keeps its SiteIndex in the process's Caches: a site naming no bound secret is
    not read again until the index entry ages."""
    emulator, settings, clients = env
    emulator.add_site("orders-api", {"WebPubSub": ref(NOTIFY)})
    for i in range(3):
        emulator.add_site(f"other-{i}", {"Other": ref("some-other-secret")})
    caches = Caches()
    reads = lambda: len(emulator.journal.where(op="web.references"))  # noqa: E731
    sweep = lambda now=None: observe_by_name(settings, caches=caches, now=now or emulator.now())[0]  # noqa: E731

    first = sweep()
    assert reads() == 4
    second = sweep()
    assert reads() == 5, "only orders-api, which reads a bound secret, is read again"
    same = lambda obs: tuple(replace(c, read_at=None) for c in obs["notify-prod"].consumers)  # noqa: E731
    assert same(second) == same(first) and {c.site_name for c in first["notify-prod"].consumers} == {"orders-api"}
    emulator.add_site("new-app", {"WebPubSub": ref(NOTIFY)})
    third = sweep()
    assert reads() == 7 and {c.site_name for c in third["notify-prod"].consumers} == {"orders-api", "new-app"}
    sweep(emulator.now() + collect.INDEX_MAX_AGE)
    assert reads() == 12, "aged entries are read again"

    secrets = {o.resource.id: o.secrets for o in first.values()}
    sub, index = emulator.world.subscriptions[0], caches.sites
    before = len(emulator.journal.where(op="web.list"))
    nothing, errors = collect.collect(clients, sub, {rid: () for rid in secrets}, emulator.now(), index)
    assert errors == [] and set(nothing.values()) == {()}
    assert len(emulator.journal.where(op="web.list")) == before, "no bound secret: no App Service read"
