"""Consumer refresh: make the apps reading a secret resolve it again, and prove they did.

Writing a new version into Key Vault fixes nothing until the apps reading it reload it: App
Service caches Key Vault references for about a day. For each app (site) reading the secret:
1. plan: for each secret sync planned in this sweep (it runs first, in the registry's order), or
   for a consumers/stale finding, one action per site.
2. re-check: learn the version to expect (the one this sweep's secret sync wrote and proved, or
   the secret's current one for a stale app); read the site's reference status again; nothing to
   do when every setting already resolves it; never for a reference that pins a version (a
   refresh cannot move it) or one that reads another secret now.
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
from watchdog.config import Setting
from watchdog.consumers import RESOLVED, Consumer, Site
from watchdog.models import Action, BoundSecret, Finding, Observation, Outcome, OutcomeStatus
from watchdog.remediate._common import outcome
from watchdog.remediate.registry import ActContext, PlanContext, Remediation, register
from watchdog.rights import SUBSCRIPTION, Feature

if TYPE_CHECKING:
    from watchdog.azure import AzureClients
    from watchdog.remediate.plan import Plan

KIND = rules.REMEDY
SYNC = "secret-sync"
SETTING = Setting("WATCHDOG_CONSUMER_REFRESH", "", "After secret sync writes a secret, refresh the Key Vault references of the apps reading it and verify they resolve the new version (and answer consumers/stale): off, plan or on. Empty: the mode of WATCHDOG_SECRET_SYNC.")
RIGHTS = (
    Feature(
        "consumer-refresh", SUBSCRIPTION,
        "After secret sync, force the apps reading the secret to resolve their Key Vault references again "
        "(POST {site}/config/configreferences/appsettings/refresh).",
        # UNCONFIRMED: Microsoft's operations list has no action of its own for the refresh; the
        # config write right is the one its path falls under. It would also let the watchdog change
        # app settings, which it never does (no PUT/PATCH of config anywhere in watchdog/).
        actions=("Microsoft.Web/sites/config/Write",), writes=True),
    Feature(
        "consumer-restart", SUBSCRIPTION,
        "Restart an app that still shows the old version after the refresh, only with WATCHDOG_CONSUMER_RESTART=on.",
        actions=("Microsoft.Web/sites/restart/Action",), writes=True),
)
G_CURRENT = "already-current"
G_PINNED = "pinned-version"
G_GONE = "not-a-consumer"
G_NO_VERSION = "no-version"
VERIFY_WAITS = (0.0, 2.0, 4.0, 8.0)  # seconds before each status read after a refresh or restart


def plan(obs: Observation, findings: list[Finding], ctx: PlanContext, out: Plan) -> None:
    rid = obs.resource.id.lower()
    synced = [a.subject for a in out.actions if a.kind == SYNC and a.resource_id.lower() == rid]
    out.actions.extend(targets(obs, findings, synced))


def targets(obs: Observation, findings: Iterable[Finding], synced: Iterable[str] = ()) -> list[Action]:
    """Refresh actions for `obs`'s consumers: one per site and secret in `synced` (URIs a secret
    sync of this sweep writes; the version is learnt when it has), and one per site with a
    consumers/stale finding (expecting the secret's current version). Pinned and failed
    references are not refreshed (the findings say what a person must fix)."""
    if not obs.consumers:
        return []
    written = {uri.lower() for uri in synced}
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
        finding = next((stale[f"{c.site_id}/{c.setting}".lower()] for c in group
                        if f"{c.site_id}/{c.setting}".lower() in stale), None)
        why = "secret sync writes a new version" if uri in written else "the app still uses an older version"
        actions.append(Action(
            kind=KIND, resource_id=obs.resource.id, subject=site_id,
            reason=f"{why} of {first.secret_uri}: refresh {first.site_name}'s Key Vault references",
            params={"site": first.site_name, "kind": first.kind, "secret_uri": first.secret_uri,
                    "settings": sorted(c.setting for c in group),
                    "expect_version": None if uri in written else current.get(uri)},
            finding=finding))
    return actions


def expected(action: Action, prior: Iterable[Outcome]) -> str | None:
    """The version the app must resolve: the one a secret sync of this sweep wrote and proved
    (None when it did not), else the one planned (a stale app: the secret's current version)."""
    if action.params["expect_version"]:
        return str(action.params["expect_version"])
    uri = action.params["secret_uri"].lower()
    return next((str(o.after.get("version") or "") or None for o in prior
                 if o.action.kind == SYNC and o.action.subject.lower() == uri
                 and o.status == OutcomeStatus.DONE and o.verified), None)


# --- re-check -> act -> verify ----------------------------------------------------------------


def recheck(action: Action, obs: Observation, ctx: ActContext) -> Outcome | tuple[str, list[Consumer]]:
    """The version to expect and the site's consumers as they are now, or a `skipped` outcome
    saying why the refresh is not needed or cannot help."""
    expect = expected(action, ctx.prior)
    if not expect:
        return outcome(action, OutcomeStatus.SKIPPED, "no version to expect: secret sync did not write and prove "
                       "one in this sweep", ctx.now, guard=G_NO_VERSION, before={"site": action.params["site"]})
    checked = check_now(action, ctx.clients, ctx.now, expect)
    return checked if isinstance(checked, Outcome) else (expect, checked)


def act(action: Action, obs: Observation, ctx: ActContext, checked: tuple[str, list[Consumer]]
        ) -> tuple[str, list[Consumer]]:
    refresh(action, ctx.clients)
    return checked


def verify(action: Action, obs: Observation, ctx: ActContext, acted: tuple[str, list[Consumer]]) -> Outcome:
    expect, consumers = acted
    return proved(action, ctx.clients, ctx.settings.consumer_restart, ctx.now, expect, consumers)


def execute(action: Action, clients: AzureClients, restart_allowed: bool, now: datetime, expect: str,
            sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Re-check -> act -> verify (-> restart -> verify) for one action, expecting `expect`
    (also what a rotation calls, with its own lease held)."""
    consumers = check_now(action, clients, now, expect)
    if isinstance(consumers, Outcome):
        return consumers
    refresh(action, clients)
    return proved(action, clients, restart_allowed, now, expect, consumers, sleep)


def proved(action: Action, clients: AzureClients, restart_allowed: bool, now: datetime, expect: str,
           consumers: list[Consumer], sleep: Callable[[float], None] = time.sleep) -> Outcome:
    before = {"site": action.params["site"], "expect_version": expect,
              "active_versions": {c.setting: c.active_version for c in consumers}}
    steps = ["refreshed"]
    ok, seen = poll(action, clients, now, expect, sleep)
    if not ok and restart_allowed:
        restart(action, clients)
        steps.append("restarted")
        ok, seen = poll(action, clients, now, expect, sleep)
    after = {"statuses": {c.setting: c.status for c in seen}, "active_versions": {c.setting: c.active_version
                                                                                  for c in seen}}
    proof = "; ".join(f"{c.setting}: {c.status} {c.active_version}" for c in seen)
    if ok:
        reason = f"{' and '.join(steps)} {action.params['site']}: it resolves version {expect}"
    else:
        hint = "" if restart_allowed else " (WATCHDOG_CONSUMER_RESTART is off: not restarted)"
        reason = f"{' and '.join(steps)} {action.params['site']}, but it does not resolve version {expect}{hint}"
    return outcome(action, OutcomeStatus.DONE, reason, now, before=before, after=after, verified=ok, proof=proof)


def check_now(action: Action, clients: AzureClients, now: datetime, expect: str) -> list[Consumer] | Outcome:
    consumers = _read(action, clients, now)
    site, uri = action.params["site"], action.params["secret_uri"]
    if not consumers:
        return outcome(action, OutcomeStatus.SKIPPED, f"{site} no longer reads {uri}", now, guard=G_GONE)
    if any(c.pinned_version is not None for c in consumers):
        return outcome(action, OutcomeStatus.SKIPPED, f"{site} pins a version of {uri}: a refresh cannot move it",
                       now, guard=G_PINNED)
    if all(_current(c, expect) for c in consumers):
        return outcome(action, OutcomeStatus.SKIPPED, f"{site} already resolves version {expect}", now,
                       guard=G_CURRENT, after={"active_versions": {c.setting: c.active_version for c in consumers}})
    return consumers


def refresh(action: Action, clients: AzureClients) -> None:
    arm_call(clients, _subscription(action), "POST", f"{action.subject}/config/configreferences/appsettings/refresh")


def restart(action: Action, clients: AzureClients) -> None:
    arm_call(clients, _subscription(action), "POST", f"{action.subject}/restart")


def poll(action: Action, clients: AzureClients, now: datetime, expect: str,
         sleep: Callable[[float], None] = time.sleep) -> tuple[bool, list[Consumer]]:
    """(every setting resolves the expected version, what was read last), polling a few times:
    Azure may answer the refresh before it has resolved."""
    seen: list[Consumer] = []
    for wait in VERIFY_WAITS:
        if wait:
            sleep(wait)
        seen = _read(action, clients, now)
        if seen and all(_current(c, expect) for c in seen):
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


register(Remediation(KIND, SETTING, "consumer_refresh", 1, RIGHTS, plan, recheck, act, verify))
