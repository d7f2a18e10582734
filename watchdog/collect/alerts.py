"""Metric alert rules: one paged list per subscription (metricAlerts, api-version 2018-03-01), kept
per resource as the rules whose scopes cover it (the resource, its group or its subscription)."""
from __future__ import annotations

from typing import Any, Iterable

from watchdog.models_resource import AlertCriterion, MetricAlertRule, Resource

ACTION = "Microsoft.Insights/MetricAlerts/Read"


def to_rule(item: Any) -> MetricAlertRule:
    """A MetricAlertResource (azure-mgmt-monitor 7.0.0) as the model keeps it. Criteria of other
    shapes (web tests) have no allOf of metric criteria and give none."""
    criteria = []
    for c in getattr(item.criteria, "all_of", None) or ():
        threshold = getattr(c, "threshold", None)
        criteria.append(AlertCriterion(metric=c.metric_name or "", namespace=c.metric_namespace,
                                       operator=getattr(c, "operator", None) or "",
                                       threshold=None if threshold is None else float(threshold),
                                       aggregation=c.time_aggregation or ""))
    return MetricAlertRule(id=item.id or "", name=item.name or "", enabled=bool(item.enabled),
                           scopes=tuple(s.rstrip("/").lower() for s in item.scopes or ()),
                           criteria=tuple(criteria))


def list_in_subscription(monitor: Any) -> tuple[MetricAlertRule, ...]:
    """`monitor`: the subscription's MonitorManagementClient."""
    return tuple(to_rule(item) for item in monitor.metric_alerts.list_by_subscription())


def covers(scope: str, resource: Resource) -> bool:
    """A rule scoped to the resource, its resource group or its subscription evaluates it."""
    rid = resource.id.lower()
    group = f"/subscriptions/{resource.subscription_id}/resourcegroups/{resource.resource_group}".lower()
    return scope in (rid, group, f"/subscriptions/{resource.subscription_id}".lower())


def scoped_to(rules: Iterable[MetricAlertRule], resource: Resource) -> tuple[MetricAlertRule, ...]:
    return tuple(r for r in rules if any(covers(s, resource) for s in r.scopes))
