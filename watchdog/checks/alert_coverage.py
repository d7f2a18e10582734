"""Which of a resource's two baseline alerts its metric alert rules already give: connection
utilisation (ConnectionQuotaUtilization at or under 80%, or TotalConnectionCount at or under 80% of
the cap) and ServerLoad (at or under 70%). Pure; shared by posture/no-alerts and the alerts remediation."""
from __future__ import annotations

from dataclasses import dataclass

from watchdog.checks.tiers import connection_cap
from watchdog.models_resource import AlertCriterion, MetricAlertRule, Resource

NAMESPACE = "microsoft.signalrservice/webpubsub"
ABOVE = ("greaterthan", "greaterthanorequal")


@dataclass(frozen=True)
class Baseline:
    key: str  # connections, server-load
    metric: str  # the metric the watchdog's own rule uses
    threshold: float
    aggregation: str
    severity: int  # Azure Monitor severity, 0 (critical) .. 4 (verbose)


CONNECTIONS = Baseline("connections", "ConnectionQuotaUtilization", 80.0, "Maximum", 2)
SERVER_LOAD = Baseline("server-load", "ServerLoad", 70.0, "Average", 2)
BASELINES = (CONNECTIONS, SERVER_LOAD)


def _limit(c: AlertCriterion, resource: Resource, baseline: Baseline) -> float | None:
    """The highest threshold of `c`'s metric that still fires by the baseline's level."""
    metric = c.metric.lower()
    if baseline is CONNECTIONS and metric == "totalconnectioncount":
        cap = connection_cap(resource)
        return None if cap is None else 0.8 * cap
    return baseline.threshold if metric == baseline.metric.lower() else None


def covered(rule: MetricAlertRule, c: AlertCriterion, resource: Resource, baseline: Baseline) -> bool:
    if not rule.enabled or c.threshold is None or c.operator.lower() not in ABOVE:
        return False
    if c.namespace and c.namespace.lower() != NAMESPACE:
        return False
    limit = _limit(c, resource, baseline)
    return limit is not None and c.threshold <= limit


def missing(rules: tuple[MetricAlertRule, ...], resource: Resource) -> tuple[Baseline, ...]:
    """The baselines no enabled rule covering the resource gives."""
    return tuple(b for b in BASELINES
                 if not any(covered(r, c, resource, b) for r in rules for c in r.criteria))
