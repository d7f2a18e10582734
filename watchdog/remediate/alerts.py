"""Alerts: create the two baseline metric alert rules (connection utilisation >= 80%, ServerLoad >= 70%)
on a resource no enabled rule covers, with the action group WATCHDOG_ALERTS_ACTION_GROUP.

In the style of Azure Monitor Baseline Alerts: one rule per signal, scoped to the resource, static
threshold, severity 2 (warning), evaluated every minute over 5 minutes, auto-mitigated, tagged as
the watchdog's. Plan -> re-check -> act -> verify:
1. re-check: list the subscription's metric alert rules again; a signal someone covered since
   collection is not created (all covered: skipped, guard `changed`).
2. act: PUT (create or update) one rule per signal still missing, in the resource's group.
3. verify: list again and say whether both signals are covered now.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from watchdog.checks import alert_coverage
from watchdog.checks.registry import remedy
from watchdog.collect import alerts
from watchdog.config import Setting
from watchdog.models import Action, Finding, Observation, Outcome, OutcomeStatus
from watchdog.models_resource import Resource
from watchdog.remediate import guards
from watchdog.remediate._common import WATCHDOG, outcome, skip
from watchdog.remediate.registry import ActContext, PlanContext, Remediation, register
from watchdog.rights import SUBSCRIPTION, Feature
from watchdog.tags import WRITTEN_BY

if TYPE_CHECKING:
    from watchdog.remediate.plan import Plan

KIND = "alerts"
NAMESPACE = "Microsoft.SignalRService/WebPubSub"
FREQUENCY, WINDOW = timedelta(minutes=1), timedelta(minutes=5)
RIGHTS = Feature(
    "alerts", SUBSCRIPTION,
    "Create the two baseline metric alert rules on a resource no rule covers (WATCHDOG_ALERTS=on), linked to "
    "the action group WATCHDOG_ALERTS_ACTION_GROUP (linking needs read on it).",
    actions=("Microsoft.Insights/MetricAlerts/Write", "Microsoft.Insights/ActionGroups/Read"),
    writes=True,
)
ACTION_GROUP = "WATCHDOG_ALERTS_ACTION_GROUP"
SETTINGS = (
    Setting(ACTION_GROUP, "", "Resource id of the action group the alerts remediation links its rules to "
            "(/subscriptions/.../providers/microsoft.insights/actionGroups/<name>); empty: alerts are only planned."),
)


def rule_name(resource: Resource, baseline: alert_coverage.Baseline) -> str:
    return f"{resource.name}-{baseline.metric}"


def plan(obs: Observation, findings: list[Finding], ctx: PlanContext, out: Plan) -> None:
    res = obs.resource
    for f in findings:
        if remedy(f) != KIND:
            continue
        missing = [b.key for b in alert_coverage.missing(obs.alerts or (), res)]
        action = Action(KIND, res.id, f"{res.id}/alerts", f"create metric alert rules for {', '.join(missing)}",
                        {"missing": missing, "action_group": ctx.settings.alerts_action_group}, f.fingerprint)
        if not ctx.settings.alerts_action_group:
            skip(out, action, guards.NO_ACTION_GROUP,
                 f"set {ACTION_GROUP} to the action group the rules should notify; a rule nobody hears is no alert")
        else:
            out.actions.append(action)


@dataclass
class _State:
    missing: tuple[alert_coverage.Baseline, ...]
    created: list[str]


def _missing_now(ctx: ActContext, res: Resource) -> tuple[alert_coverage.Baseline, ...]:
    found = alerts.list_in_subscription(ctx.clients.monitor(res.subscription_id))
    return alert_coverage.missing(alerts.scoped_to(found, res), res)


def recheck(action: Action, obs: Observation, ctx: ActContext) -> _State | Outcome:
    missing = _missing_now(ctx, obs.resource)
    if not missing:
        return outcome(action, OutcomeStatus.SKIPPED, "metric alert rules cover both signals now", ctx.now,
                       guard=guards.CHANGED)
    return _State(missing, [])


def body(res: Resource, baseline: alert_coverage.Baseline, action_group: str) -> Any:
    from azure.mgmt.monitor.models import (
        MetricAlertAction, MetricAlertResource, MetricAlertSingleResourceMultipleMetricCriteria, MetricCriteria,
    )

    criterion = MetricCriteria(name="Metric1", metric_name=baseline.metric, metric_namespace=NAMESPACE,
                               operator="GreaterThanOrEqual", threshold=baseline.threshold,
                               time_aggregation=baseline.aggregation)
    return MetricAlertResource(
        location="global", severity=baseline.severity, enabled=True, scopes=[res.id],
        description=f"{baseline.metric} >= {baseline.threshold:g} on {res.name} (created by the Web PubSub watchdog)",
        evaluation_frequency=FREQUENCY, window_size=WINDOW, auto_mitigate=True,
        criteria=MetricAlertSingleResourceMultipleMetricCriteria(all_of=[criterion]),
        actions=[MetricAlertAction(action_group_id=action_group)], tags={WRITTEN_BY: WATCHDOG},
    )


def act(action: Action, obs: Observation, ctx: ActContext, state: _State) -> _State:
    res, monitor = obs.resource, ctx.clients.monitor(obs.resource.subscription_id)
    for baseline in state.missing:
        name = rule_name(res, baseline)
        monitor.metric_alerts.create_or_update(res.resource_group, name,
                                               body(res, baseline, action.params["action_group"]))
        state.created.append(name)
    return state


def verify(action: Action, obs: Observation, ctx: ActContext, state: _State) -> Outcome:
    still = _missing_now(ctx, obs.resource)
    common = {"before": {"missing": [b.key for b in state.missing]}, "after": {"missing": [b.key for b in still]},
              "proof": f"metricAlerts list after the PUTs: {len(still)} signal(s) uncovered"}
    if still:
        return outcome(action, OutcomeStatus.FAILED, f"created {', '.join(state.created)} but "
                       f"{', '.join(b.key for b in still)} is still uncovered", ctx.now, verified=False, **common)
    return outcome(action, OutcomeStatus.DONE, f"created {', '.join(state.created)}", ctx.now, verified=True, **common)


register(Remediation(KIND, Setting("WATCHDOG_ALERTS", "off", "Alerts remediation mode: off, plan or on "
                                   "(creates the baseline metric alert rules posture/no-alerts asks for)."),
                     "alerts", 3, (RIGHTS,), plan, recheck, act, verify))
