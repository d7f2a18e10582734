"""Consumer refresh: make the apps reading a secret resolve it again, and prove they did.

Writing a new version into Key Vault fixes nothing until the apps reading it reload it: App
Service caches Key Vault references for about a day. For each app (site) reading the secret:
1. plan: after secret sync wrote a version (its `done` outcome), or for a consumers/stale finding,
   one action per site, expecting the secret's new/current version.
2. re-check: read the site's reference status again; nothing to do when every setting already
   resolves the expected version; never for a reference that pins a version (a refresh cannot
   move it) or one that reads another secret now.
3. act: POST {site}/config/configreferences/appsettings/refresh (the App Service doc's forced
   resolution). Never a config write, never `config/appsettings/list`.
4. verify: read the status until every setting shows the expected version as Resolved (bounded
   polls). Still old and WATCHDOG_CONSUMER_RESTART=on: restart the app once and verify again.
   Never a restart otherwise.
Outcomes carry versions, statuses and setting names only: no value is ever read.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterable

from watchdog.checks import consumers as rules
from watchdog.collect.consumers import read_consumers
from watchdog.collect.sites import arm_call
from watchdog.consumers import RESOLVED, Consumer, Site
from watchdog.models import Action, BoundSecret, Finding, Observation, Outcome
from watchdog.remediate._common import outcome

if TYPE_CHECKING:
    from watchdog.azure import AzureClients
    from watchdog.settings import Settings

KIND = "consumer-refresh"
G_CURRENT = "already-current"
G_PINNED = "pinned-version"
G_GONE = "not-a-consumer"
G_NO_VERSION = "no-version"
VERIFY_WAITS = (0.0, 2.0, 4.0, 8.0)  # seconds before each status read after a refresh or restart


def plan(obs: Observation, findings: Iterable[Finding], synced: Iterable[Outcome] = ()) -> list[Action]:
    """Refresh actions for `obs`'s consumers: one per site and secret written by a `done`,
    verified secret sync in `synced`, and one per site with a consumers/stale finding. Pinned and
    failed references are not refreshed (the findings say what a person must fix). A `planned`
    sync (plan mode) plans its refreshes too, for display: their version is unknown (None) until
    the sync writes it, and `execute` refuses them."""
    if not obs.consumers:
        return []
    written = {o.action.subject.lower(): (str(o.after.get("version") or "") if o.status == "done" else "")
               for o in synced if o.action.kind == "secret-sync"
               and (o.status == "planned" or (o.status == "done" and o.verified))
               and o.action.resource_id.lower() == obs.resource.id.lower()}
    stale = {f.subject.lower(): f.fingerprint for f in findings
             if f.rule == rules.RULE and f.check == rules.STALE and f.resource_id.lower() == obs.resource.id.lower()}
    current = {s.uri.lower(): s.version for s in obs.secrets}
    groups: dict[tuple[str, str], list[Consumer]] = {}
    for c in obs.consumers:
        if c.pinned_version is not None or not c.usable:
            continue
        uri = c.secret_uri.lower()
        if uri in written or f"{c.site_id}/{c.setting}".lower() in stale:
            groups.setdefault((c.site_id, uri), []).append(c)
    actions = []
    for (site_id, uri), group in groups.items():
        first = group[0]
        expect = (written[uri] or None) if uri in written else current.get(uri)
        finding = next((stale[f"{c.site_id}/{c.setting}".lower()] for c in group
                        if f"{c.site_id}/{c.setting}".lower() in stale), None)
        why = "secret sync wrote a new version" if uri in written else "the app still uses an older version"
        actions.append(Action(
            kind=KIND, resource_id=obs.resource.id, subject=site_id,
            reason=f"{why} of {first.secret_uri}: refresh {first.site_name}'s Key Vault references",
            params={"site": first.site_name, "kind": first.kind, "secret_uri": first.secret_uri,
                    "settings": sorted(c.setting for c in group), "expect_version": expect},
            finding=finding))
    return actions


def execute(action: Action, clients: AzureClients, settings: Settings, now: datetime,
            sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Re-check -> act -> verify (-> restart -> verify) for one planned action."""
    expect = action.params["expect_version"]
    before = {"site": action.params["site"], "expect_version": expect}
    if not expect:
        return outcome(action, "skipped", "no version to expect: the secret has not been written yet", now,
                       guard=G_NO_VERSION, before=before)
    consumers = recheck(action, clients, now)
    if isinstance(consumers, Outcome):
        return consumers
    before["active_versions"] = {c.setting: c.active_version for c in consumers}
    act(action, clients)
    steps = ["refreshed"]
    ok, seen = verify(action, clients, now, sleep)
    if not ok and settings.consumer_restart:
        restart(action, clients)
        steps.append("restarted")
        ok, seen = verify(action, clients, now, sleep)
    after = {"statuses": {c.setting: c.status for c in seen}, "active_versions": {c.setting: c.active_version
                                                                                  for c in seen}}
    proof = "; ".join(f"{c.setting}: {c.status} {c.active_version}" for c in seen)
    if ok:
        reason = f"{' and '.join(steps)} {action.params['site']}: it resolves version {expect}"
    else:
        hint = "" if settings.consumer_restart else " (WATCHDOG_CONSUMER_RESTART is off: not restarted)"
        reason = f"{' and '.join(steps)} {action.params['site']}, but it does not resolve version {expect}{hint}"
    return outcome(action, "done", reason, now, before=before, after=after, verified=ok, proof=proof)


def recheck(action: Action, clients: AzureClients, now: datetime) -> list[Consumer] | Outcome:
    """The site's consumers of the secret as they are now, or a `skipped` outcome saying why the
    refresh is not needed or cannot help."""
    consumers = _read(action, clients, now)
    expect = action.params["expect_version"]
    if not consumers:
        return outcome(action, "skipped", f"{action.params['site']} no longer reads {action.params['secret_uri']}",
                       now, guard=G_GONE)
    if any(c.pinned_version is not None for c in consumers):
        return outcome(action, "skipped", f"{action.params['site']} pins a version of {action.params['secret_uri']}"
                       ": a refresh cannot move it", now, guard=G_PINNED)
    if expect and all(_current(c, expect) for c in consumers):
        return outcome(action, "skipped", f"{action.params['site']} already resolves version {expect}", now,
                       guard=G_CURRENT)
    return consumers


def act(action: Action, clients: AzureClients) -> None:
    arm_call(clients, _subscription(action), "POST", f"{action.subject}/config/configreferences/appsettings/refresh")


def restart(action: Action, clients: AzureClients) -> None:
    arm_call(clients, _subscription(action), "POST", f"{action.subject}/restart")


def verify(action: Action, clients: AzureClients, now: datetime,
           sleep: Callable[[float], None] = time.sleep) -> tuple[bool, list[Consumer]]:
    """(every setting resolves the expected version, what was read last), polling a few times:
    Azure may answer the refresh before it has resolved."""
    expect = action.params["expect_version"]
    seen: list[Consumer] = []
    for wait in VERIFY_WAITS:
        if wait:
            sleep(wait)
        seen = _read(action, clients, now)
        if seen and expect and all(_current(c, expect) for c in seen):
            return True, seen
        if seen and any(not c.usable and c.status != "Initialized" for c in seen):
            return False, seen  # failed for good (access, missing secret): waiting will not help
    return False, seen


def _current(c: Consumer, expect: str) -> bool:
    return c.status == RESOLVED and c.active_version == expect


def _read(action: Action, clients: AzureClients, now: datetime) -> list[Consumer]:
    uri = action.params["secret_uri"]
    vault_url, _, name = uri.partition("/secrets/")
    secret = BoundSecret(uri=uri, vault_url=vault_url, name=name, version=None, enabled=True, expires_on=None,
                         content_type=None, tags={})
    parts = action.subject.split("/")
    site = Site(action.subject, action.params["site"], parts[4], "", action.params.get("kind", "app"))
    consumers, error = read_consumers(clients, site, [secret], now)
    if error is not None:
        raise RuntimeError(f"cannot read {action.params['site']}'s Key Vault references: {error.message}")
    wanted = {s.lower() for s in action.params["settings"]}
    return [c for c in consumers if c.setting.lower() in wanted]


def _subscription(action: Action) -> str:
    return action.subject.split("/")[2]
