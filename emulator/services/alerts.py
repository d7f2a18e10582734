"""Metric alert rules (Microsoft.Insights/metricAlerts, api-version 2018-03-01): the subscription's
list and one rule's GET and PUT, installed on the ARM service (same host, same checks).

No spec of metricAlerts is copied into azure-specs; the shapes follow the 2018-03-01 REST reference
(MetricAlertResource, criteria `odata.type` Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria
or MultipleResourceMultipleMetricCriteria) and are read back through azure-mgmt-monitor's models.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .base import BadRequest, Call, json_response

if TYPE_CHECKING:
    from .arm import Arm

VERSION = "2018-03-01"
TYPE = "Microsoft.Insights/metricAlerts"
READ, WRITE = "Microsoft.Insights/MetricAlerts/Read", "Microsoft.Insights/MetricAlerts/Write"
SINGLE = "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"
MULTIPLE = "Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria"
_REQUIRED = ("location", "properties")
_REQUIRED_PROPS = ("severity", "enabled", "scopes", "evaluationFrequency", "windowSize", "criteria")


def install(arm: Arm, sub: str, rg: str) -> None:
    world = arm.world

    def version(call: Call) -> None:
        if call.request.query.get("api-version") != VERSION:
            raise BadRequest(f"The api-version '{call.request.query.get('api-version')}' is not supported for "
                             f"type 'metricAlerts'. The supported api-versions are '{VERSION}'.",
                             "NoRegisteredProviderFound")

    async def list_by_subscription(call: Call) -> web.Response:
        version(call)
        s = arm._subscription(call)  # noqa: SLF001 - the ARM service's own checks
        arm._authorize(call, f"/subscriptions/{s}", READ)  # noqa: SLF001
        prefix = f"/subscriptions/{s}/".lower()
        return json_response({"value": [b for rid, b in sorted(world.metric_alerts.items()) if rid.startswith(prefix)]})

    def rule_id(call: Call) -> str:
        version(call)
        s, group = arm._subscription(call), call.group("rg")  # noqa: SLF001
        rid = f"/subscriptions/{s}/resourceGroups/{group}/providers/{TYPE}/{call.group('rule')}"
        return rid

    async def get(call: Call) -> web.Response:
        rid = rule_id(call)
        arm._authorize(call, rid, READ)  # noqa: SLF001
        body = world.metric_alerts.get(rid.lower())
        if body is None:
            raise BadRequest(f"The Resource '{TYPE}/{call.group('rule')}' under resource group '{call.group('rg')}' "
                             "was not found.", "ResourceNotFound", 404)
        return json_response(body)

    async def put(call: Call) -> web.Response:
        rid = rule_id(call)
        arm._authorize(call, rid, WRITE)  # noqa: SLF001
        arm._resource_group(rid.split("/")[2], call.group("rg"))  # noqa: SLF001
        body = call.json()
        problem = _invalid(body)
        if problem:
            raise BadRequest(problem, "BadRequest")
        stored = {"id": rid, "name": call.group("rule"), "type": TYPE, "location": body["location"],
                  "tags": dict(body.get("tags") or {}), "properties": dict(body["properties"])}
        with world.lock:
            world.metric_alerts[rid.lower()] = stored
        return json_response(stored)  # 200 for a new rule too: the 2018-03-01 API (and its SDK) know no 201

    rule = rg + r"/providers/Microsoft\.Insights/metricAlerts/(?P<rule>[^/]+)"
    arm.route("GET", sub + r"/providers/Microsoft\.Insights/metricAlerts", "arm.metricAlertsBySubscription")(
        list_by_subscription)
    arm.route("GET", rule, "arm.getMetricAlert")(get)
    arm.route("PUT", rule, "arm.putMetricAlert")(put)


def _invalid(body: Any) -> str | None:
    """What ARM would refuse in a metric alert PUT body, or None."""
    if not isinstance(body, dict) or any(k not in body for k in _REQUIRED):
        return "The request content was invalid: location and properties are required."
    props = body["properties"]
    missing = [k for k in _REQUIRED_PROPS if k not in props]
    if missing:
        return f"The request content was invalid: properties.{missing[0]} is required."
    criteria = props["criteria"] or {}
    if criteria.get("odata.type") not in (SINGLE, MULTIPLE):
        return "Criteria odata.type must be a metric criteria type."
    for c in criteria.get("allOf") or ():
        if not all(c.get(k) for k in ("name", "metricName", "operator", "timeAggregation", "criterionType")):
            return "Each criterion needs name, metricName, operator, timeAggregation and criterionType."
    if not props["scopes"]:
        return "Scopes cannot be empty."
    return None


def rule_body(sub: str, group: str, name: str, scopes: list[str], metric: str, threshold: float,
              operator: str = "GreaterThanOrEqual", aggregation: str = "Maximum", enabled: bool = True) -> dict[str, Any]:
    """A rule as a scenario declares it, in the 2018-03-01 shape."""
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/{group}/providers/{TYPE}/{name}", "name": name, "type": TYPE,
        "location": "global", "tags": {},
        "properties": {
            "description": "", "severity": 2, "enabled": enabled, "scopes": scopes,
            "evaluationFrequency": "PT1M", "windowSize": "PT5M",
            "criteria": {"odata.type": MULTIPLE if len(scopes) > 1 or "/providers/" not in scopes[0] else SINGLE,
                         "allOf": [{"criterionType": "StaticThresholdCriterion", "name": "Metric1",
                                    "metricName": metric, "metricNamespace": "Microsoft.SignalRService/WebPubSub",
                                    "operator": operator, "threshold": threshold, "timeAggregation": aggregation}]},
            "autoMitigate": True, "actions": [],
        },
    }
