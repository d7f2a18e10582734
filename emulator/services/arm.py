"""Azure Resource Manager (management.azure.com) for Web PubSub and the Insights APIs around it.

Answers as Azure does per Microsoft's specs (webpubsub 2024-03-01, autoscale 2022-10-01, metrics
2024-02-01; diagnostic settings 2021-05-01-preview and the activity log 2015-04-01 follow the SDK
models, their specs are not copied). Long-running operations (PATCH, regenerateKey) are recorded in
`world.operations` and completed lazily: whichever request comes first after `operation_seconds`
applies them, so there are no background tasks and tests can move the clock by waiting.
"""
from __future__ import annotations

import base64
import hashlib
import math
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable
from urllib.parse import urlencode

from aiohttp import web

from ..world import (
    ALLOWED_UNITS, RESOURCE_TYPE, TIERS, ActivityEvent, AutoscaleSetting, WebPubSub, World, arm_id, utcnow,
)
from . import alerts
from . import web as web_apps
from .base import BadRequest, Call, Service, authorization_failed, json_response

ARM = "https://management.azure.com"
SIGNALR_VERSION = "2024-03-01"
# Supported api-versions per API family; ARM refuses the others (see _api_version).
VERSIONS = {
    "WebPubSub": {SIGNALR_VERSION},
    "diagnosticSettings": {"2021-05-01-preview"},
    "autoscalesettings": {"2022-10-01"},
    # 2018-01-01: what azure-mgmt-monitor 2.x (Cloud Custodian's pin) sends; Azure still serves it.
    "metrics": {"2018-01-01", "2024-02-01"},
    # Microsoft.Resources (generic resources and resource groups), stable versions.
    "resources": {"2021-04-01", "2022-09-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01"},
    "eventtypes": {"2015-04-01"},
}
READ = f"{RESOURCE_TYPE}/read"
# The action each operation needs (as the handlers authorize it), for a fault's 403 text.
ACTIONS = {"listBySubscription": READ, "listByResourceGroup": READ, "get": READ, "update": f"{RESOURCE_TYPE}/write",
           "listKeys": f"{RESOURCE_TYPE}/listKeys/action", "regenerateKey": f"{RESOURCE_TYPE}/regenerateKey/action",
           "listSkus": f"{RESOURCE_TYPE}/skus/read", "listHubs": f"{RESOURCE_TYPE}/hubs/read",
           "getHub": f"{RESOURCE_TYPE}/hubs/read", "diagnosticSettings": "Microsoft.Insights/diagnosticSettings/read",
           "metrics": "Microsoft.Insights/metrics/read", "activityLog": "Microsoft.Insights/eventtypes/values/read",
           "listResourceGroups": "Microsoft.Resources/subscriptions/resourceGroups/read"}
LRO_POLL_SECONDS = 10

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<rg>[^/]+)"
WPS = RG + r"/providers/Microsoft\.SignalRService/webPubSub/(?P<name>[^/]+)"
ANY_RESOURCE = r"(?P<rid>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/.+?)"

# Metric definitions of Microsoft.SignalRService/WebPubSub: unit, primary aggregation, display name.
METRICS = {
    "TotalConnectionCount": ("Count", "Maximum", "Connection Count"),
    "ConnectionQuotaUtilization": ("Percent", "Maximum", "Connection Quota Utilization"),
    "ServerLoad": ("Percent", "Maximum", "Server Load"),
    "ConnectionOpenCount": ("Count", "Total", "Connection Open Count"),
    "ConnectionCloseCount": ("Count", "Total", "Connection Close Count"),
    "InboundTraffic": ("Bytes", "Total", "Inbound Traffic"),
    "OutboundTraffic": ("Bytes", "Total", "Outbound Traffic"),
}
CLOSE_DIMENSION = "ConnectionCloseCategory"
AGGREGATIONS = ("average", "minimum", "maximum", "total", "count")


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Arm(Service):
    name = "arm"
    audience = ARM
    # ARM also accepts tokens for its classic resource id, which older tools (Cloud Custodian's
    # session, azure-cli's default) still request.
    other_audiences = ("https://management.core.windows.net",)
    case_insensitive_paths = True

    def __init__(self, world: World) -> None:
        super().__init__(world)
        r = self.route
        r("GET", SUB + r"/providers/Microsoft\.SignalRService/webPubSub", "arm.listBySubscription")(self.list_by_sub)
        r("GET", RG + r"/providers/Microsoft\.SignalRService/webPubSub", "arm.listByResourceGroup")(self.list_by_rg)
        r("GET", WPS, "arm.get")(self.get)
        r("PATCH", WPS, "arm.update")(self.update)
        r("POST", WPS + r"/listKeys", "arm.listKeys")(self.list_keys)
        r("POST", WPS + r"/regenerateKey", "arm.regenerateKey")(self.regenerate_key)
        r("GET", WPS + r"/skus", "arm.listSkus")(self.list_skus)
        r("GET", WPS + r"/replicas", "arm.listReplicas")(self.list_replicas)
        r("GET", WPS + r"/hubs", "arm.listHubs")(self.list_hubs)
        r("GET", WPS + r"/hubs/(?P<hub>[^/]+)", "arm.getHub")(self.get_hub)
        r("GET", SUB + r"/providers/Microsoft\.SignalRService/locations/(?P<loc>[^/]+)"
                       r"/operation(?P<kind>Statuses|Results)/(?P<op>[^/]+)", "arm.operation")(self.operation)
        r("GET", ANY_RESOURCE + r"/providers/Microsoft\.Insights/diagnosticSettings",
          "arm.diagnosticSettings")(self.diagnostic_settings)
        r("GET", ANY_RESOURCE + r"/providers/Microsoft\.Insights/metrics", "arm.metrics")(self.metrics)
        r("GET", RG + r"/providers/Microsoft\.Insights/autoscalesettings", "arm.autoscaleByResourceGroup")(
            self.autoscale)
        r("GET", SUB + r"/providers/Microsoft\.Insights/autoscalesettings", "arm.autoscaleBySubscription")(
            self.autoscale)
        r("GET", SUB + r"/providers/Microsoft\.Insights/eventtypes/management/values", "arm.activityLog")(
            self.activity_log)
        # Microsoft.Resources: what generic tools (az resource list, Cloud Custodian) discover with.
        r("GET", SUB + r"/resources", "arm.listResources")(self.list_resources)
        r("GET", RG + r"/resources", "arm.listResourcesByResourceGroup")(self.list_resources)
        r("GET", SUB + r"/resourcegroups", "arm.listResourceGroups")(self.list_resource_groups)
        alerts.install(self, SUB, RG)
        web_apps.register(self)  # Microsoft.Web (App Service sites, Key Vault references) is ARM too

    def matches(self, host: str) -> bool:
        return host == "management.azure.com"

    def forbidden_message(self, request: web.Request, body: bytes) -> str | None:
        found = self.find(request.method, request.path)
        if found is None or found[0].op.split(".", 1)[1] not in ACTIONS:
            return None
        g = found[1].groupdict()
        scope = g.get("rid") or "/".join(p for p in (
            f"/subscriptions/{g['sub']}", g.get("rg") and f"resourceGroups/{g['rg']}",
            g.get("name") and f"providers/{RESOURCE_TYPE}/{g['name']}") if p)
        return authorization_failed(self.world.principal_id, ACTIONS[found[0].op.split(".", 1)[1]], scope)

    # -- Web PubSub ----------------------------------------------------------------------------

    async def list_by_sub(self, call: Call) -> web.Response:
        self._api_version(call, "WebPubSub")
        sub = self._subscription(call)
        self._authorize(call, f"/subscriptions/{sub}", READ)
        return self._page(call, [_wps_body(r, self.world) for r in self._visible(call, lambda r: True)])

    async def list_by_rg(self, call: Call) -> web.Response:
        self._api_version(call, "WebPubSub")
        sub = self._subscription(call)
        rg = call.group("rg")
        self._authorize(call, f"/subscriptions/{sub}/resourceGroups/{rg}", READ)
        self._resource_group(sub, rg)
        return self._page(call, [_wps_body(r, self.world) for r in self._visible(
            call, lambda r: r.resource_group.lower() == rg.lower())])

    async def get(self, call: Call) -> web.Response:
        return json_response(_wps_body(self._resource(call, READ), self.world))

    async def list_keys(self, call: Call) -> web.Response:
        res = self._resource(call, f"{RESOURCE_TYPE}/listKeys/action")
        self._local_auth(res)
        return json_response(_keys_body(res))

    async def regenerate_key(self, call: Call) -> web.Response:
        res = self._resource(call, f"{RESOURCE_TYPE}/regenerateKey/action")
        self._local_auth(res)
        key_type = ((call.json() or {}).get("keyType") or "")
        if key_type.lower() not in ("primary", "secondary", "salt"):
            raise BadRequest(f"Invalid keyType '{key_type}'. Allowed values: Primary, Secondary, Salt.",
                             "InvalidRequestContent")
        # The new key exists at once (the 202 carries it); the operation only propagates it.
        # An operation a fault fails changes nothing (UNCONFIRMED: whether Azure keeps a new key then).
        if call.plan.lro is None and key_type.lower() == "salt":
            self.world.record_activity(res.id, f"{RESOURCE_TYPE}/regenerateKey/action", _oid(call))
        elif call.plan.lro is None:
            self.world.regenerate_key(res.id, key_type, caller=_oid(call))
        return self._accepted(call, res, "regenerateKey", _keys_body(res))

    async def update(self, call: Call) -> web.Response:
        res = self._resource(call, f"{RESOURCE_TYPE}/write")
        body = call.json()
        if not isinstance(body, dict):
            raise BadRequest("The request content was invalid and could not be deserialized.", "InvalidRequestContent")
        if res.provisioning_state not in ("Succeeded", "Failed", "Canceled"):
            raise BadRequest(f"The resource '{res.name}' is in provisioning state '{res.provisioning_state}'; "
                             "retry once the current operation has completed.", "Conflict", 409)
        sku = body.get("sku") or {}
        sku_name = sku.get("name") or res.sku
        capacity = sku.get("capacity", res.capacity if sku_name == res.sku else None)
        if sku_name not in ALLOWED_UNITS:
            raise BadRequest(f"The SKU '{sku_name}' is invalid. Allowed values: {', '.join(ALLOWED_UNITS)}.",
                             "InvalidSku")
        # UNCONFIRMED: the exact codes and wording of these two refusals; the shape and status are ARM's.
        if res.sku == "Free_F1" and sku_name == "Free_F1" and capacity not in (None, res.capacity):
            raise BadRequest("Free tier does not support scaling. Upgrade to Standard_S1 or Premium to scale "
                             "units.", "BadRequest")
        allowed = ALLOWED_UNITS[sku_name]
        if capacity is None:
            capacity = allowed[0]
        if capacity not in allowed:
            raise BadRequest(f"The unit count {capacity} is invalid for SKU {sku_name}. Allowed values: "
                             f"{', '.join(map(str, allowed))}.", "BadRequest")
        with self.world.lock:
            res.provisioning_state = "Updating"
        return self._accepted(call, res, "update", None, sku=sku_name, capacity=capacity,
                              tags=body.get("tags"))

    async def list_skus(self, call: Call) -> web.Response:
        self._resource(call, f"{RESOURCE_TYPE}/skus/read")
        return json_response({"value": [_sku_body(name) for name in ALLOWED_UNITS]})

    async def list_replicas(self, call: Call) -> web.Response:
        res = self._resource(call, f"{RESOURCE_TYPE}/replicas/read")
        prefix = res.id.lower() + "/replicas/"
        found = sorted((r for rid, r in self.world.replicas.items() if rid.startswith(prefix)), key=lambda r: r.name)
        return json_response({"value": [_replica_body(r, self.world) for r in found]})

    async def list_hubs(self, call: Call) -> web.Response:
        res = self._resource(call, f"{RESOURCE_TYPE}/hubs/read")
        return self._page(call, [_hub_body(res, hub) for hub in res.hubs.values()])

    async def get_hub(self, call: Call) -> web.Response:
        res = self._resource(call, f"{RESOURCE_TYPE}/hubs/read")
        hub = next((h for h in res.hubs.values() if h.name.lower() == call.group("hub").lower()), None)
        if hub is None:
            raise _not_found(f"{RESOURCE_TYPE}/{res.name}/hubs/{call.group('hub')}", res.resource_group)
        return json_response(_hub_body(res, hub))

    async def operation(self, call: Call) -> web.Response:
        self._api_version(call, "WebPubSub")
        self._settle()
        op = self.world.operations.get(call.group("op"))
        if op is None or op["subscription"] != self._subscription(call).lower():
            raise BadRequest(f"The operation '{call.group('op')}' could not be found.", "NotFound", 404)
        if call.group("kind").lower() == "statuses":
            status = {"id": op["status_url"].split("?")[0].removeprefix(ARM), "name": op["id"],
                      "status": op["outcome"] if op["done"] else "InProgress", "startTime": iso(op["started"])}
            if op["done"]:
                status["endTime"] = iso(op["ends"])
                if op["error"]:
                    status["error"] = op["error"]
                return json_response(status)
            # Without Retry-After the SDK falls back to polling every 30 s.
            return json_response(status, headers={"Retry-After": self._lro_headers(op)["Retry-After"]})
        if not op["done"]:
            return web.Response(status=202, headers=self._lro_headers(op))
        if op["error"]:  # UNCONFIRMED: the status of a failed operation's result; pollers stop at its status
            raise BadRequest(op["error"]["message"], op["error"]["code"], 500)
        res = self.world.resource(op["resource"])
        if res is None:
            raise BadRequest(f"The operation '{op['id']}' could not be found.", "NotFound", 404)
        return json_response(_keys_body(res) if op["kind"] == "regenerateKey" else _wps_body(res, self.world))

    # -- Insights ------------------------------------------------------------------------------

    async def diagnostic_settings(self, call: Call) -> web.Response:
        self._api_version(call, "diagnosticSettings")
        res = self._any_resource(call, "Microsoft.Insights/diagnosticSettings/read")
        return json_response({"value": [_diagnostic_body(res, d) for d in res.diagnostics]})

    def _collection_scope(self, call: Call, action: str) -> tuple[str, str]:
        """A subscription- or resource-group-wide collection: (subscription, scope), authorised."""
        sub = self._subscription(call)
        rg = call.match.groupdict().get("rg")
        scope = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
        self._authorize(call, scope, action)
        if rg:
            self._resource_group(sub, rg)
        return sub, scope

    async def autoscale(self, call: Call) -> web.Response:
        self._api_version(call, "autoscalesettings")
        sub, scope = self._collection_scope(call, "Microsoft.Insights/autoscalesettings/read")
        found = [a for a in self.world.autoscale if a.id.lower().startswith(scope.lower() + "/")]
        return self._page(call, [_autoscale_body(a) for a in found])

    async def metrics(self, call: Call) -> web.Response:
        self._api_version(call, "metrics")
        res = self._any_resource(call, "Microsoft.Insights/metrics/read")
        q = call.request.query
        names = [n for n in (q.get("metricnames") or "").split(",") if n]
        if not names:
            raise BadRequest("metricnames is required when resultType is Data.", "BadRequest")
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise BadRequest(f"Failed to find metric configuration for provider: Microsoft.SignalRService, resource "
                             f"Type: WebPubSub, metric: {unknown[0]}, Valid metrics: {', '.join(METRICS)}",
                             "BadRequest")
        start, end = _timespan(q.get("timespan"))
        step = _duration(q.get("interval") or "PT1M", end - start)
        filters = _dimension_filter(q.get("$filter"))
        metrics = [self._metric(res, n, _aggregations(q.get("aggregation"), n), start, end, step, filters)
                   for n in names]
        return json_response({"cost": int((end - start) / timedelta(minutes=1)) * len(names),
                              "timespan": f"{_second(start)}/{_second(end)}",
                              "interval": q.get("interval") or "PT1M", "value": metrics,
                              "namespace": RESOURCE_TYPE, "resourceregion": res.location})

    def _metric(self, res: WebPubSub, name: str, aggregations: list[str], start: datetime, end: datetime,
                step: timedelta, filters: dict[str, str]) -> dict[str, Any]:
        now = utcnow()
        split = name == "ConnectionCloseCount" and CLOSE_DIMENSION.lower() in filters
        wanted = filters.get(CLOSE_DIMENSION.lower(), "*")
        categories = res.close_categories()
        series: list[tuple[list[dict[str, Any]], Callable[[int], float | None]]] = []
        if split:
            # A named category with no data still gets its (empty) series, as Azure answers it.
            named = [c for c in categories if c.lower() == wanted.lower()] or [wanted]
            for cat in categories if wanted == "*" else named:
                meta = [{"name": {"value": CLOSE_DIMENSION, "localizedValue": CLOSE_DIMENSION}, "value": cat}]
                series.append((meta, lambda ago, c=cat: res.metric(name, ago, c)))
        elif name == "ConnectionCloseCount":
            series.append(([], lambda ago: _sum(res.metric(name, ago, c) for c in categories)))
        else:
            series.append(([], lambda ago: res.metric(name, ago)))
        unit, _, display = METRICS[name]
        timeseries = [{"metadatavalues": meta, "data": _points(value_at, aggregations, start, end, step, now)}
                      for meta, value_at in series]
        return {"id": f"{res.id}/providers/Microsoft.Insights/metrics/{name}", "type": "Microsoft.Insights/metrics",
                "name": {"value": name, "localizedValue": display}, "displayDescription": display,
                "unit": unit, "timeseries": timeseries, "errorCode": "Success"}

    async def activity_log(self, call: Call) -> web.Response:
        self._api_version(call, "eventtypes")
        sub = self._subscription(call)
        self._authorize(call, f"/subscriptions/{sub}", "Microsoft.Insights/eventtypes/values/read")
        self._settle()
        clauses = _activity_filter(call.request.query.get("$filter"))
        select = [s.strip() for s in (call.request.query.get("$select") or "").split(",") if s.strip()]
        with self.world.lock:
            events = [e for e in reversed(self.world.activity)
                      if e.resource_id.lower().startswith(f"/subscriptions/{sub}/".lower()) and clauses(e)]
        bodies = [_event_body(e, self.world) for e in events]
        if select:
            bodies = [{k: v for k, v in b.items() if k in select} for b in bodies]
        return self._page(call, bodies)

    # -- Microsoft.Resources -------------------------------------------------------------------

    async def list_resources(self, call: Call) -> web.Response:
        """Resources_List / Resources_ListByResourceGroup: every resource type of the scenario, as
        GenericResourceExpanded, filtered by RBAC like ARM's collections."""
        self._api_version(call, "resources")
        sub, scope = self._collection_scope(call, "Microsoft.Resources/subscriptions/resources/read")
        wanted = _resource_type_filter(call.request.query.get("$filter"))
        groups = self._group_locations(sub)
        items = [{"id": r.id, "name": r.name, "type": RESOURCE_TYPE, "kind": "WebPubSub", "location": r.location,
                  "sku": {"name": r.sku, "tier": r.tier, "size": r.sku.split("_")[1], "capacity": r.capacity},
                  "tags": dict(r.tags)} for r in self._visible(call, lambda r: True)]
        items += [{"id": f"/subscriptions/{v.subscription_id}/resourceGroups/{v.resource_group}/providers/"
                         f"Microsoft.KeyVault/vaults/{v.name}", "name": v.name, "type": "Microsoft.KeyVault/vaults",
                   "location": groups[v.resource_group.lower()][1], "tags": {}} for v in self.world.vaults.values()
                  if v.subscription_id.lower() == sub.lower()]
        items += [{"id": w.id, "name": w.name, "type": "Microsoft.OperationalInsights/workspaces",
                   "location": groups[w.resource_group.lower()][1], "tags": {}}
                  for w in self.world.workspaces.values() if w.subscription_id.lower() == sub.lower()]
        # ARM lists autoscale settings with the lower-case type it registered them under.
        items += [{"id": a.id, "name": a.name, "type": "microsoft.insights/autoscalesettings", "location": a.location,
                   "tags": {}} for a in self.world.autoscale if a.subscription_id.lower() == sub.lower()]
        items = sorted((i for i in items if i["id"].lower().startswith(scope.lower() + "/")
                        and (wanted is None or i["type"].lower() == wanted)), key=lambda i: i["id"].lower())
        return self._page(call, items)

    async def list_resource_groups(self, call: Call) -> web.Response:
        self._api_version(call, "resources")
        sub = self._subscription(call)
        self._authorize(call, f"/subscriptions/{sub}", "Microsoft.Resources/subscriptions/resourceGroups/read")
        return self._page(call, [{"id": f"/subscriptions/{sub}/resourceGroups/{name}", "name": name,
                                  "type": "Microsoft.Resources/resourceGroups", "location": location,
                                  "properties": {"provisioningState": "Succeeded"}}
                                 for name, location in sorted(self._group_locations(sub).values())])

    def _group_locations(self, sub: str) -> dict[str, tuple[str, str]]:
        """Lower-case group name -> (name as written, location). The world keeps groups lower-cased
        and without their location; both come from what the group holds (UNCONFIRMED only for a
        group holding vaults or workspaces alone, whose location is then the first resource's)."""
        found: dict[str, tuple[str, str]] = {}
        fallback = next(iter(self.world.resources.values())).location if self.world.resources else "eastus"
        for r in self.world.resources.values():
            if r.subscription_id.lower() == sub.lower():
                found.setdefault(r.resource_group.lower(), (r.resource_group, r.location))
        for holder in [*self.world.vaults.values(), *self.world.workspaces.values()]:
            if holder.subscription_id.lower() == sub.lower():
                found.setdefault(holder.resource_group.lower(), (holder.resource_group, fallback))
        for key in self.world.resource_groups:
            group_sub, _, name = key.partition("/")
            if group_sub == sub.lower():
                found.setdefault(name, (name, fallback))
        return found

    # -- the common checks, in ARM's order -----------------------------------------------------

    def _api_version(self, call: Call, family: str) -> None:
        version = call.request.query.get("api-version")
        if not version:
            raise BadRequest("The api-version query parameter (?api-version=) is required for all requests.",
                             "MissingApiVersionParameter")
        supported = ", ".join(sorted(VERSIONS[family]))
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", version):
            raise BadRequest(f"The api-version '{version}' is invalid. The supported versions are '{supported}'.",
                             "InvalidApiVersionParameter")
        if version not in VERSIONS[family]:
            raise BadRequest(f"No registered resource provider found for location 'global' and API version "
                             f"'{version}' for type '{family}'. The supported api-versions are '{supported}'.",
                             "NoRegisteredProviderFound")

    def _subscription(self, call: Call, sub: str | None = None) -> str:
        sub = sub or call.group("sub")
        if sub.lower() not in (s.lower() for s in self.world.subscriptions):
            raise BadRequest(f"The subscription '{sub}' could not be found.", "SubscriptionNotFound", 404)
        return sub

    def _resource_group(self, sub: str, rg: str) -> None:
        if f"{sub}/{rg}".lower() not in self.world.resource_groups:
            raise BadRequest(f"Resource group '{rg}' could not be found.", "ResourceGroupNotFound", 404)

    def _authorize(self, call: Call, scope: str, action: str) -> None:
        if self.world.denial("arm", scope, action):
            oid = _oid(call)
            raise BadRequest(authorization_failed(oid, action, scope), "AuthorizationFailed", 403)

    def _resource(self, call: Call, action: str) -> WebPubSub:
        """The Web PubSub resource a /webPubSub/{name} route names, after every check ARM makes."""
        self._api_version(call, "WebPubSub")
        sub, rg, name = self._subscription(call), call.group("rg"), call.group("name")
        self._authorize(call, f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{RESOURCE_TYPE}/{name}", action)
        self._resource_group(sub, rg)
        self._settle()
        res = self.world.resource(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{RESOURCE_TYPE}/{name}")
        if res is None:
            raise _not_found(f"{RESOURCE_TYPE}/{name}", rg)
        return res

    def _any_resource(self, call: Call, action: str) -> WebPubSub:
        """The resource an extension route (`{resourceUri}/providers/Microsoft.Insights/...`) names."""
        rid = call.group("rid")
        parts = rid.split("/")
        self._subscription(call, parts[2])
        self._authorize(call, rid, action)
        self._resource_group(parts[2], parts[4])
        self._settle()
        res = self.world.resource(rid)
        if res is None:
            raise _not_found("/".join(parts[6:]), parts[4])
        return res

    def _visible(self, call: Call, keep: Callable[[WebPubSub], bool]) -> list[WebPubSub]:
        """Resources of the subscription the caller may read: ARM filters collections by RBAC."""
        self._settle()
        sub = call.group("sub").lower()
        return sorted((r for r in self.world.resources.values()
                       if r.subscription_id.lower() == sub and keep(r) and not self.world.denial("arm", r.id, READ)),
                      key=lambda r: r.id.lower())

    @staticmethod
    def _local_auth(res: WebPubSub) -> None:
        # UNCONFIRMED: Azure's exact answer when local auth is disabled; the keys are deleted, so refuse.
        if res.disable_local_auth:
            raise BadRequest(f"Local authentication is disabled for '{res.name}': its access keys are deleted. "
                             "Set disableLocalAuth to false to use access keys.", "BadRequest")

    # -- paging and long-running operations ----------------------------------------------------

    def _page(self, call: Call, items: list[dict[str, Any]]) -> web.Response:
        """One page of `items`; `nextLink` carries an opaque $skipToken, as ARM's lists do."""
        token = call.request.query.get("$skipToken") or call.request.query.get("$skiptoken")
        offset = _decode_token(token) if token else 0
        size = self.world.page_size
        body: dict[str, Any] = {"value": items[offset:offset + size]}
        if offset + size < len(items):
            query = {k: v for k, v in call.request.query.items() if k.lower() != "$skiptoken"}
            query["$skipToken"] = _encode_token(offset + size)
            body["nextLink"] = f"{ARM}{call.request.path}?{urlencode(query, safe='$')}"
        return json_response(body)

    def _accepted(self, call: Call, res: WebPubSub, kind: str, body: dict[str, Any] | None,
                  **change: Any) -> web.Response:
        op_id = str(uuid.uuid4())
        failed = call.plan.lro
        error = None if failed is None else {
            "code": failed.code or "InternalServerError",
            "message": failed.message or f"The {kind} operation on '{res.name}' failed. (emulated fault {failed.id})"}
        base = f"{ARM}/subscriptions/{res.subscription_id}/providers/Microsoft.SignalRService/locations/{res.location}"
        now = utcnow()
        op = {"id": op_id, "kind": kind, "resource": res.id, "subscription": res.subscription_id.lower(),
              "started": now, "done": False,
              "ends": now + timedelta(seconds=self.world.operation_seconds if call.plan.lro_seconds is None
                                      else call.plan.lro_seconds),
              "caller": _oid(call), "change": change,
              "outcome": failed.lro if failed else "Succeeded", "error": error,
              "status_url": f"{base}/operationStatuses/{op_id}?api-version={SIGNALR_VERSION}",
              "result_url": f"{base}/operationResults/{op_id}?api-version={SIGNALR_VERSION}"}
        with self.world.lock:
            self.world.operations[op_id] = op
        headers = self._lro_headers(op)
        if body is None:
            return web.Response(status=202, headers=headers)
        return json_response(body, status=202, headers=headers)

    def _lro_headers(self, op: dict[str, Any]) -> dict[str, str]:
        remaining = (op["ends"] - utcnow()).total_seconds()
        return {"Location": op["result_url"], "Azure-AsyncOperation": op["status_url"],
                # UNCONFIRMED: how often Azure asks to poll; capped so a long operation is polled.
                "Retry-After": str(min(LRO_POLL_SECONDS, max(1, math.ceil(remaining))))}

    def _settle(self) -> None:
        """Complete every operation whose time has come (lazily: there is no background task)."""
        now = utcnow()
        with self.world.lock:
            for op in self.world.operations.values():
                if op["done"] or op["ends"] > now:
                    continue
                op["done"] = True
                res = self.world.resource(op["resource"])
                if res is None or op["kind"] != "update":
                    continue
                if op["error"]:
                    res.provisioning_state = op["outcome"]
                    continue
                change = op["change"]
                res.sku = change["sku"]
                if change["tags"] is not None:
                    res.tags = dict(change["tags"])
                self.world.set_capacity(res.id, change["capacity"], caller=op["caller"])


# -- bodies: one function per resource type, shared by get, list, PATCH and operation results ----

def _wps_body(res: WebPubSub, world: World) -> dict[str, Any]:
    digest = hashlib.sha256(res.id.lower().encode()).digest()
    return {
        "sku": {"name": res.sku, "tier": res.tier, "size": res.sku.split("_")[1], "capacity": res.capacity},
        "properties": {
            "provisioningState": res.provisioning_state,
            "externalIP": f"20.{digest[0]}.{digest[1]}.{digest[2]}",
            "hostName": res.host,
            "publicPort": 443,
            "serverPort": 443,
            "version": "1.0",
            "privateEndpointConnections": [_endpoint_body(res, name, status)
                                           for name, status in res.private_endpoints.items()],
            "sharedPrivateLinkResources": [],
            "tls": {"clientCertEnabled": False},
            "hostNamePrefix": res.name.lower(),
            "liveTraceConfiguration": {"enabled": "false", "categories": []},
            "resourceLogConfiguration": {"categories": [
                {"name": c, "enabled": "true"} for c in ("ConnectivityLogs", "MessagingLogs", "HttpRequestLogs")]},
            "networkACLs": {"defaultAction": res.acl_default,
                            "publicNetwork": {"allow": list(res.acl_allow), "deny": list(res.acl_deny)},
                            "privateEndpoints": [],
                            "ipRules": [{"value": "0.0.0.0/0", "action": "Allow"},
                                        {"value": "::/0", "action": "Allow"}]},
            "publicNetworkAccess": res.public_network_access,
            "disableLocalAuth": res.disable_local_auth,
            "disableAadAuth": False,
            "regionEndpointEnabled": "Enabled",
            "resourceStopped": "true" if res.resource_stopped else "false",
        },
        "kind": "WebPubSub",
        "identity": {"type": "SystemAssigned", "principalId": str(uuid.UUID(bytes=digest[:16])),
                     "tenantId": world.tenant_id},
        "location": res.location,
        "tags": dict(res.tags),
        "id": res.id,
        "name": res.name,
        "type": RESOURCE_TYPE,
        "systemData": _system_data(res.created_at, _last_change(world, res.id)),
    }


def _replica_body(rep: Any, world: World) -> dict[str, Any]:
    return {"sku": {"name": rep.sku, "tier": rep.tier, "size": rep.sku.split("_")[1], "capacity": rep.capacity},
            "properties": {"provisioningState": rep.provisioning_state, "regionEndpointEnabled": "Enabled",
                           "resourceStopped": "false"},
            "location": rep.location, "tags": dict(rep.tags), "id": rep.id, "name": rep.name,
            "type": f"{RESOURCE_TYPE}/replicas", "systemData": _system_data(rep.created_at, rep.created_at)}


def _endpoint_body(res: WebPubSub, name: str, status: str) -> dict[str, Any]:
    endpoint = arm_id(res.subscription_id, res.resource_group, "Microsoft.Network/privateEndpoints", name)
    return {"id": f"{res.id}/privateEndpointConnections/{name}", "name": name,
            "type": "Microsoft.SignalRService/WebPubSub/privateEndpointConnections",
            "properties": {"provisioningState": "Succeeded", "privateEndpoint": {"id": endpoint},
                           "groupIds": ["webpubsub"],
                           "privateLinkServiceConnectionState": {"status": status, "description": "",
                                                                 "actionsRequired": "None"}}}


def _keys_body(res: WebPubSub) -> dict[str, Any]:
    return {"primaryKey": res.key("primary"), "secondaryKey": res.key("secondary"),
            "primaryConnectionString": res.connection_string("primary"),
            "secondaryConnectionString": res.connection_string("secondary")}


def _sku_body(sku: str) -> dict[str, Any]:
    allowed = list(ALLOWED_UNITS[sku])
    return {"resourceType": RESOURCE_TYPE, "sku": {"name": sku, "tier": TIERS[sku]},
            "capacity": {"minimum": allowed[0], "maximum": allowed[-1], "default": allowed[0],
                         "allowedValues": allowed, "scaleType": "Manual" if sku == "Free_F1" else "Automatic"}}


def _hub_body(res: WebPubSub, hub: Any) -> dict[str, Any]:
    handlers = []
    for h in hub.event_handlers:
        handler: dict[str, Any] = {"urlTemplate": h.url_template, "systemEvents": list(h.system_events),
                                   "auth": dict(h.auth)}
        if h.user_event_pattern is not None:
            handler["userEventPattern"] = h.user_event_pattern
        handlers.append(handler)
    return {"id": f"{res.id}/hubs/{hub.name}", "name": hub.name, "type": f"{RESOURCE_TYPE}/hubs",
            "properties": {"eventHandlers": handlers, "eventListeners": [],
                           "anonymousConnectPolicy": hub.anonymous_connect_policy,
                           "webSocketKeepAliveIntervalInSeconds": 20},
            "systemData": _system_data(res.created_at, res.created_at)}


def _diagnostic_body(res: WebPubSub, diag: Any) -> dict[str, Any]:
    retention = {"enabled": False, "days": 0}
    return {"id": f"{res.id}/providers/microsoft.insights/diagnosticSettings/{diag.name}",
            "type": "Microsoft.Insights/diagnosticSettings", "name": diag.name, "location": None,
            "properties": {"storageAccountId": None, "serviceBusRuleId": None, "workspaceId": diag.workspace_id,
                           "eventHubAuthorizationRuleId": None, "eventHubName": None,
                           "metrics": [{"category": "AllMetrics", "enabled": False, "retentionPolicy": retention}],
                           "logs": [{"category": c, "categoryGroup": None, "enabled": True,
                                     "retentionPolicy": retention} for c in diag.categories],
                           "logAnalyticsDestinationType": "Dedicated"}}


def _autoscale_body(a: AutoscaleSetting) -> dict[str, Any]:
    def rule(direction: str, operator: str, threshold: float) -> dict[str, Any]:
        return {"metricTrigger": {"metricName": "ConnectionQuotaUtilization", "metricNamespace": RESOURCE_TYPE,
                                  "metricResourceUri": a.target_resource_id, "timeGrain": "PT1M",
                                  "statistic": "Average", "timeWindow": "PT10M", "timeAggregation": "Average",
                                  "operator": operator, "threshold": threshold, "dimensions": [],
                                  "dividePerInstance": False},
                "scaleAction": {"direction": direction, "type": "ServiceAllowedNextValue", "value": "1",
                                "cooldown": "PT30M"}}

    return {"id": a.id, "name": a.name, "type": "Microsoft.Insights/autoscaleSettings", "location": a.location,
            "tags": {}, "properties": {
                "profiles": [{"name": "Auto created default scale condition",
                              "capacity": {"minimum": str(a.minimum), "maximum": str(a.maximum),
                                           "default": str(a.default)},
                              "rules": [rule("Increase", "GreaterThan", 70), rule("Decrease", "LessThan", 20)]}],
                "notifications": [], "enabled": a.enabled,
                "predictiveAutoscalePolicy": {"scaleMode": "Disabled"},
                "name": a.name, "targetResourceUri": a.target_resource_id, "targetResourceLocation": a.location}}


def _event_body(e: ActivityEvent, world: World) -> dict[str, Any]:
    parts = e.resource_id.split("/")
    operation = e.operation.rsplit("/", 1)
    verb = {"write": "Create or Update", "action": operation[0].rsplit("/", 1)[-1]}.get(operation[-1], operation[-1])
    caller_type = "User" if "@" in e.caller else "ServicePrincipal"
    return {
        "authorization": {"action": e.operation, "scope": e.resource_id},
        "caller": e.caller,
        "channels": "Operation",
        "claims": {"http://schemas.microsoft.com/identity/claims/objectidentifier": e.caller},
        "correlationId": e.correlation_id,
        "description": "",
        "eventDataId": e.event_id,
        "eventName": {"value": "EndRequest", "localizedValue": "End request"},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "id": f"{e.resource_id}/events/{e.event_id}/ticks/{int(e.at.timestamp() * 10_000_000)}",
        "level": "Informational",
        "operationId": e.correlation_id,
        "operationName": {"value": e.operation, "localizedValue": f"{verb} ({caller_type})"},
        "resourceGroupName": parts[4],
        "resourceProviderName": {"value": "Microsoft.SignalRService", "localizedValue": "Microsoft.SignalRService"},
        "resourceType": {"value": RESOURCE_TYPE, "localizedValue": RESOURCE_TYPE},
        "resourceId": e.resource_id,
        "status": {"value": e.status, "localizedValue": e.status},
        "subStatus": {"value": "", "localizedValue": ""},
        "eventTimestamp": iso(e.at),
        "submissionTimestamp": iso(e.at + timedelta(seconds=15)),
        "subscriptionId": parts[2],
        "tenantId": world.tenant_id,
        "properties": {"statusCode": "OK"},
    }


def _system_data(created: datetime, modified: datetime) -> dict[str, Any]:
    return {"createdBy": "admin@contoso.com", "createdByType": "User", "createdAt": iso(created),
            "lastModifiedBy": "admin@contoso.com", "lastModifiedByType": "User", "lastModifiedAt": iso(modified)}


def _last_change(world: World, resource_id: str) -> datetime:
    with world.lock:
        return next((e.at for e in reversed(world.activity) if e.resource_id.lower() == resource_id.lower()),
                    world.resource(resource_id).created_at)  # type: ignore[union-attr]


def _not_found(type_and_name: str, rg: str) -> BadRequest:
    return BadRequest(f"The Resource '{type_and_name}' under resource group '{rg}' was not found. For more details "
                      "please go to https://aka.ms/ARMResourceNotFoundFix", "ResourceNotFound", 404)


def _oid(call: Call) -> str:
    return (call.caller or {}).get("oid", "")


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("offset:"))
    except ValueError:
        raise BadRequest(f"The skip token '{token}' is invalid.", "InvalidSkipToken") from None


# -- metrics query parameters ----------------------------------------------------------------------

def _timespan(text: str | None) -> tuple[datetime, datetime]:
    """`start/end`, `start/duration` or a duration ending now; Azure's default is the last hour."""
    now = utcnow()
    try:
        if not text:
            return now - timedelta(hours=1), now
        if "/" not in text:
            return now - _duration(text, timedelta(0)), now
        first, second = text.split("/", 1)
        start = _datetime(first)
        end = start + _duration(second, timedelta(0)) if second.upper().startswith("P") else _datetime(second)
    except ValueError:
        raise BadRequest(f"Invalid timespan '{text}'. Expected 'startDateTime_ISO/endDateTime_ISO'.",
                         "BadRequest") from None
    if end <= start:
        raise BadRequest(f"Invalid timespan '{text}': the end must come after the start.", "BadRequest")
    return start, end


def _datetime(text: str) -> datetime:
    when = datetime.fromisoformat(text.strip())
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _duration(text: str, full: timedelta) -> timedelta:
    """An ISO 8601 duration (PT1M, PT5M, PT1H, P1D ...); FULL is the whole timespan."""
    if text.upper() == "FULL":
        return full
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text.upper())
    if not m or not any(m.groups()):
        raise BadRequest(f"Invalid interval '{text}'.", "BadRequest")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def _aggregations(text: str | None, metric: str) -> list[str]:
    names = [a.strip().lower() for a in (text or METRICS[metric][1]).split(",") if a.strip()]
    bad = [a for a in names if a not in AGGREGATIONS]
    if bad:
        raise BadRequest(f"Invalid aggregation '{bad[0]}'. Valid aggregations: Average, Minimum, Maximum, Total, "
                         "Count.", "BadRequest")
    return names


def _dimension_filter(text: str | None) -> dict[str, str]:
    """`Dim eq 'value'` clauses joined by `and` → {dim (lower-case): value}; Web PubSub has one dimension."""
    if not text:
        return {}
    found = dict((k.lower(), v) for k, v in re.findall(r"(\w+)\s+eq\s+'([^']*)'", text, re.IGNORECASE))
    unknown = [k for k in found if k != CLOSE_DIMENSION.lower()]
    if unknown:
        raise BadRequest(f"Metric dimension '{unknown[0]}' is not valid for this metric.", "BadRequest")
    return found


def _points(value_at: Callable[[int], float | None], aggregations: list[str], start: datetime, end: datetime,
            step: timedelta, now: datetime) -> list[dict[str, Any]]:
    """Data points from per-minute values; a point with no values carries only its timestamp, like Azure's."""
    points = []
    at = start.replace(second=0, microsecond=0)
    while at < end:
        minutes = [(now - (at + timedelta(minutes=i))) // timedelta(minutes=1)
                   for i in range(max(1, int(step / timedelta(minutes=1))))]
        values = [v for v in (value_at(m) for m in minutes if m >= 0) if v is not None]
        point: dict[str, Any] = {"timeStamp": iso(at).replace(".000000", "")}
        if values:
            stats = {"average": sum(values) / len(values), "minimum": min(values), "maximum": max(values),
                     "total": sum(values), "count": float(len(values))}
            point.update({a: stats[a] for a in aggregations})
        points.append(point)
        at += step
    return points


def _second(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


# -- activity log filter ---------------------------------------------------------------------------

def _resource_type_filter(text: str | None) -> str | None:
    """The `$filter` of Resources_List, for the form tools use: `resourceType eq '<type>'`."""
    if not text:
        return None
    m = re.fullmatch(r"\s*resourceType\s+eq\s+'([^']+)'\s*", text, re.IGNORECASE)
    if m is None:
        raise BadRequest(f"The emulator understands only $filter=resourceType eq '<type>', not {text!r}.",
                         "InvalidFilterInQueryString")
    return m.group(1).lower()


def _activity_filter(text: str | None) -> Callable[[ActivityEvent], bool]:
    """The clauses the activity log accepts: eventTimestamp ge/le (ge required), resourceUri,
    resourceGroupName and resourceProvider eq, joined by `and`."""
    if not text or not re.search(r"eventTimestamp\s+ge\s+'", text, re.IGNORECASE):
        raise BadRequest("The $filter must contain eventTimestamp ge '<start time>'.", "BadRequest")
    tests: list[Callable[[ActivityEvent], bool]] = []
    for field, op, value in re.findall(r"(\w+)\s+(eq|ge|le)\s+'([^']*)'", text, re.IGNORECASE):
        field, op = field.lower(), op.lower()
        if field == "eventtimestamp":
            try:
                when = _datetime(value)
            except ValueError:
                raise BadRequest(f"Invalid eventTimestamp '{value}'.", "BadRequest") from None
            tests.append((lambda e, w=when: e.at >= w) if op == "ge" else (lambda e, w=when: e.at <= w))
        elif field == "resourceuri":
            tests.append(lambda e, v=value.lower(): e.resource_id.lower() == v)
        elif field == "resourcegroupname":
            tests.append(lambda e, v=value.lower(): e.resource_id.split("/")[4].lower() == v)
        elif field == "resourceprovider":
            tests.append(lambda e, v=value.lower(): e.operation.lower().startswith(v + "/"))
        else:
            raise BadRequest(f"The $filter field '{field}' is not supported.", "BadRequest")
    return lambda e: all(t(e) for t in tests)
