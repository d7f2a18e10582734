"""Scenario files (YAML or JSON) -> World.

A scenario names Azure state symbolically: a secret can hold `{connection_string: <resource>,
key: primary|secondary|stale}`, a tag or log column can say `${id:<resource>}`. Errors name the
file, the path inside it and what is wrong.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import faults as faults_mod
from .services.alerts import rule_body as alert_body
from . import sites
from .eventgrid import SCHEMA as EVENT_GRID_SCHEMA
from .world import (ALLOWED_UNITS, AutoscaleSetting, CustomerHost, Denial, DiagnosticSetting,
                    EventHandler, Hub, Replica, Series, Vault, WebPubSub, Workspace, World, utcnow)

SCENARIO_DIR = Path(__file__).parent / "scenarios"
DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


class ScenarioError(ValueError):
    pass


_NUM = {"type": "number"}
_SERIES = {"oneOf": [
    _NUM,
    {"type": "object", "additionalProperties": False, "required": ["ramp"],
     "properties": {"ramp": {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2},
                    "over_minutes": {"type": "integer", "minimum": 1}}},
    {"type": "object", "additionalProperties": False, "required": ["values"],
     "properties": {"values": {"type": "array", "items": {"type": ["number", "null"]}}}},
]}
_REQUEST_TYPES = ("ClientConnection", "ServerConnection", "RESTAPI", "Trace")
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_WPS = {"type": "object", "additionalProperties": False, "required": ["name", "sku"], "properties": {
    "name": {"type": "string", "pattern": "^[a-zA-Z][a-zA-Z0-9-]{2,62}$"},
    "location": {"type": "string"},
    "sku": {"enum": sorted(ALLOWED_UNITS)},
    "units": {"type": "integer", "minimum": 1},
    "tags": _STR_MAP,
    "disable_local_auth": {"type": "boolean"},
    "public_network_access": {"enum": ["Enabled", "Disabled"]},
    "provisioning_state": {"type": "string"},
    "resource_stopped": {"type": "boolean"},
    "private_endpoints": {"type": "object", "additionalProperties": {
        "enum": ["Approved", "Pending", "Rejected", "Disconnected"]}},
    "network_acls": {"type": "object", "additionalProperties": False, "properties": {
        "default_action": {"enum": ["Allow", "Deny"]},
        "allow": {"type": "array", "items": {"enum": list(_REQUEST_TYPES)}},
        "deny": {"type": "array", "items": {"enum": list(_REQUEST_TYPES)}}}},
    "replicas": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                 "required": ["name", "location"], "properties": {
                     "name": {"type": "string"}, "location": {"type": "string"}, "units": {"type": "integer"},
                     "demand": _NUM, "metrics": {"type": "object", "additionalProperties": _SERIES}}}},
    "hubs": {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["name"],
             "properties": {"name": {"type": "string"},
                            "anonymous_connect_policy": {"enum": ["allow", "deny"]},
                            "event_handlers": {"type": "array", "items": {
                                "type": "object", "additionalProperties": False, "required": ["url_template"],
                                "properties": {"url_template": {"type": "string"},
                                               "user_event_pattern": {"type": ["string", "null"]},
                                               "system_events": {"type": "array", "items": {"type": "string"}},
                                               "auth": {"type": "object"}}}}}}},
    "diagnostics": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                    "required": ["workspace"], "properties": {
                        "name": {"type": "string"}, "workspace": {"type": "string"},
                        "categories": {"type": "array", "items": {"type": "string"}}}}},
    "autoscale": {"type": "object", "additionalProperties": False, "properties": {
        "name": {"type": "string"}, "enabled": {"type": "boolean"}, "min": {"type": "integer"},
        "max": {"type": "integer"}, "default": {"type": "integer"}}},
    "metrics": {"type": "object", "propertyNames": {"pattern": "^[A-Za-z]+(/[A-Za-z]+)?$"},
                "additionalProperties": _SERIES},
    "demand": _NUM,
}}
_SECRET_VALUE = {"oneOf": [
    {"type": "string"},
    {"type": "object", "additionalProperties": False, "required": ["connection_string"], "properties": {
        "connection_string": {"type": "string"},
        "key": {"enum": ["primary", "secondary", "stale", "stale-secondary"]},
        "endpoint": {"type": "string"}}},
]}
_SECRET = {"type": "object", "additionalProperties": False, "required": ["name", "value"], "properties": {
    "name": {"type": "string", "pattern": "^[0-9a-zA-Z-]{1,127}$"},
    "value": _SECRET_VALUE,
    "content_type": {"type": "string"},
    "tags": _STR_MAP,
    "enabled": {"type": "boolean"},
    "expires_in_days": _NUM,
    "history": {"type": "array", "items": _SECRET_VALUE},
}}
_VAULT = {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
    "name": {"type": "string", "pattern": "^[a-zA-Z][a-zA-Z0-9-]{2,23}$"},
    "forbidden": {"type": "boolean"}, "read_only": {"type": "boolean"},
    "forbidden_secrets": {"type": "array", "items": {"type": "string"}},
    "secrets": {"type": "array", "items": _SECRET},
}}
_WORKSPACE = {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
    "name": {"type": "string"}, "customer_id": {"type": "string"},
    "partial_error": {"type": "string"}, "forbidden": {"type": "boolean"},
    "tables": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "object"}}},
}}
# A metric alert rule with one static criterion; scopes default to the resource group (${id:name} for a resource).
_ALERT = {"type": "object", "additionalProperties": False, "required": ["name", "metric", "threshold"], "properties": {
    "name": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}},
    "metric": {"type": "string"}, "threshold": _NUM, "operator": {"type": "string"},
    "aggregation": {"type": "string"}, "enabled": {"type": "boolean"}}}
SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["name", "subscriptions"],
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "tenant_id": {"type": "string"},
        "seed": {"type": "integer"},
        "arm_throttling": {"type": "boolean"},
        "page_size": {"type": "integer", "minimum": 1},
        "operation_seconds": {"type": "number", "minimum": 0},
        "event_grid": EVENT_GRID_SCHEMA,
        "subscriptions": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["id"], "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-fA-F-]{36}$"},
                "resource_groups": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["name"], "properties": {
                        "name": {"type": "string"}, "location": {"type": "string"},
                        "webpubsub": {"type": "array", "items": _WPS},
                        "vaults": {"type": "array", "items": _VAULT},
                        "workspaces": {"type": "array", "items": _WORKSPACE},
                        "metric_alerts": {"type": "array", "items": _ALERT},
                        "sites": {"type": "array", "items": sites.SCHEMA}}}}}}},
        "hosts": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "properties": {
                "kind": {"enum": ["handler", "teams", "webhook"]},
                "behaviour": {"enum": ["ok", "status", "missing-origin", "timeout", "refused", "dns", "tls",
                                       "redirect", "trickle", "flood"]},
                "status": {"type": "integer"}, "fail_times": {"type": "integer"},
                "retry_after": {"type": "integer"},
                "addresses": {"type": "array", "items": {"type": "string"}}, "location": {"type": "string"}}}},
        "faults": faults_mod.SCHEMA,
        "denials": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                    "required": ["service"], "properties": {
                        "service": {"enum": ["arm", "metrics", "logs", "keyvault"]},
                        "scope": {"type": "string"}, "action": {"type": "string"}, "role": {"type": "string"}}}},
    },
}


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(top level)"


def load(source: str | Path | dict[str, Any]) -> World:
    """A scenario by name (emulator/scenarios/<name>.yaml), by path, or as a dict."""
    if isinstance(source, dict):
        return build(source, "<dict>")
    path = Path(source)
    if not path.suffix:
        path = SCENARIO_DIR / f"{source}.yaml"
        if not path.exists():
            names = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
            raise ScenarioError(f"no scenario named {source!r}; shipped scenarios: {names}")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    return build(data, str(path))


def build(data: Any, origin: str) -> World:
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        raise ScenarioError(f"{origin}: at {_where(first)}: {first.message}")
    try:
        return _Builder(data).world
    except ScenarioError as exc:
        raise ScenarioError(f"{origin}: {exc}") from None


_ID_REF = re.compile(r"\$\{id:([^}]+)\}")


class _Builder:
    def __init__(self, data: dict[str, Any]) -> None:
        self.world = World(name=data["name"], tenant_id=data.get("tenant_id", DEFAULT_TENANT),
                           subscriptions=[s["id"] for s in data["subscriptions"]],
                           seed=data.get("seed", 7), arm_throttling=data.get("arm_throttling", False),
                           page_size=data.get("page_size", 50),
                           operation_seconds=data.get("operation_seconds", 1.0),
                           event_grid=dict(data.get("event_grid", {})))
        pending_secrets: list[tuple[str, Vault, dict[str, Any]]] = []
        pending_sites: list[tuple[str, str, str, dict[str, Any]]] = []
        for si, sub in enumerate(data["subscriptions"]):
            for gi, group in enumerate(sub.get("resource_groups", [])):
                where = f"subscriptions/{si}/resource_groups/{gi}"
                location = group.get("location", "eastus")
                self.world.resource_groups.add(f"{sub['id']}/{group['name']}".lower())
                for ws in group.get("workspaces", []):
                    w = Workspace(ws["name"], sub["id"], group["name"],
                                  ws.get("customer_id") or _guid(self.world.seed, ws["name"]),
                                  partial_error=ws.get("partial_error"), forbidden=ws.get("forbidden", False))
                    w.tables = {t: rows for t, rows in ws.get("tables", {}).items()}
                    self.world.workspaces[w.id.lower()] = w
                for ri, spec in enumerate(group.get("webpubsub", [])):
                    self._resource(spec, sub["id"], group["name"], location, f"{where}/webpubsub/{ri}")
                for vi, vspec in enumerate(group.get("vaults", [])):
                    vault = Vault(vspec["name"].lower(), sub["id"], group["name"],
                                  forbidden=vspec.get("forbidden", False), read_only=vspec.get("read_only", False),
                                  forbidden_secrets=set(vspec.get("forbidden_secrets", [])))
                    if vault.name in self.world.vaults:
                        raise ScenarioError(f"at {where}/vaults/{vi}/name: vault {vault.name!r} is defined twice")
                    self.world.vaults[vault.name] = vault
                    for ki, secret in enumerate(vspec.get("secrets", [])):
                        pending_secrets.append((f"{where}/vaults/{vi}/secrets/{ki}", vault, secret))
                pending_sites += [(sub["id"], group["name"], location, site) for site in group.get("sites", [])]
        # Secrets, log rows and alert scopes refer to resources, so they come once every resource exists.
        for si, sub in enumerate(data["subscriptions"]):
            for gi, group in enumerate(sub.get("resource_groups", [])):
                for ai, a in enumerate(group.get("metric_alerts", [])):
                    where = f"subscriptions/{si}/resource_groups/{gi}/metric_alerts/{ai}"
                    scopes = [self._subst(s, f"{where}/scopes") for s in a.get("scopes", [])] or [
                        f"/subscriptions/{sub['id']}/resourceGroups/{group['name']}"]
                    body = alert_body(sub["id"], group["name"], a["name"], scopes, a["metric"], a["threshold"],
                                      a.get("operator", "GreaterThanOrEqual"), a.get("aggregation", "Maximum"),
                                      a.get("enabled", True))
                    self.world.metric_alerts[body["id"].lower()] = body
        for where, vault, secret in pending_secrets:
            for hi, old in enumerate(secret.get("history", [])):
                vault.set_secret(secret["name"], self._secret_value(old, f"{where}/history/{hi}"))
            expires = secret.get("expires_in_days")
            vault.set_secret(secret["name"], self._secret_value(secret["value"], f"{where}/value"),
                             content_type=secret.get("content_type"),
                             tags={k: self._subst(v, f"{where}/tags/{k}") for k, v in secret.get("tags", {}).items()},
                             enabled=secret.get("enabled", True),
                             expires=None if expires is None else utcnow() + timedelta(days=expires))
        for sub_id, group_name, location, spec in pending_sites:  # apps resolve their references at start
            try:
                sites.add_site(self.world, sub_id, group_name, spec["name"], settings=spec.get("settings", {}),
                               location=spec.get("location", location), kind=spec.get("kind", "app"),
                               denied=tuple(spec.get("denied", ())), consumer=spec.get("consumer"),
                               hub=spec.get("hub", "chat"),
                               custom_hosts=tuple(spec.get("custom_hosts", ())))
            except ValueError as exc:
                raise ScenarioError(f"at sites/{spec['name']}: {exc}") from None
        for ws in self.world.workspaces.values():
            for table, rows in ws.tables.items():
                ws.tables[table] = [self._row(row, f"workspace {ws.name}/tables/{table}/{i}")
                                    for i, row in enumerate(rows)]
        for host, spec in data.get("hosts", {}).items():
            self.world.hosts[host.lower()] = CustomerHost(host=host.lower(), **spec)
        try:
            self.world.faults.extend(data.get("faults", []))
        except faults_mod.FaultError as exc:
            raise ScenarioError(f"at {exc}") from None
        for di, d in enumerate(data.get("denials", [])):
            self.world.denials.append(Denial(d["service"], self._subst(d.get("scope", ""), f"denials/{di}/scope"),
                                             d.get("action", ""), d.get("role", "")))

    def _resource(self, spec: dict[str, Any], sub: str, group: str, location: str, where: str) -> None:
        units = spec.get("units", 100 if spec["sku"] == "Premium_P2" else 1)
        if units not in ALLOWED_UNITS[spec["sku"]]:
            raise ScenarioError(f"at {where}/units: {units} is not an allowed unit count for {spec['sku']}")
        res = WebPubSub(sub, group, spec["name"], spec.get("location", location), spec["sku"], units,
                        tags=dict(spec.get("tags", {})), disable_local_auth=spec.get("disable_local_auth", False),
                        public_network_access=spec.get("public_network_access", "Enabled"),
                        provisioning_state=spec.get("provisioning_state", "Succeeded"),
                        resource_stopped=spec.get("resource_stopped", False),
                        private_endpoints=dict(spec.get("private_endpoints", {})),
                        demand=spec.get("demand"), seed=str(self.world.seed))
        acls = spec.get("network_acls")
        if acls is not None:
            res.acl_default = acls.get("default_action", "Deny")
            res.acl_allow = list(acls.get("allow", [] if res.acl_default == "Deny" else res.acl_allow))
            res.acl_deny = list(acls.get("deny", []))
        for hub in spec.get("hubs", []):
            res.hubs[hub["name"]] = Hub(hub["name"], [
                EventHandler(h["url_template"], h.get("user_event_pattern", "*"), h.get("system_events", []),
                             h.get("auth", {"type": "None"})) for h in hub.get("event_handlers", [])],
                hub.get("anonymous_connect_policy", "deny"))
        for i, diag in enumerate(spec.get("diagnostics", [])):
            ws = next((w for w in self.world.workspaces.values() if w.name == diag["workspace"]), None)
            if ws is None:
                raise ScenarioError(f"at {where}/diagnostics/{i}/workspace: no workspace named {diag['workspace']!r}"
                                    " (define workspaces before the resources that use them)")
            res.diagnostics.append(DiagnosticSetting(diag.get("name", f"diag-{ws.name}"), ws.id, diag.get(
                "categories", ["ConnectivityLogs", "MessagingLogs", "HttpRequestLogs"])))
        for name, value in spec.get("metrics", {}).items():
            res.metrics[name] = _series(value)
        for rep in spec.get("replicas", []):
            replica = Replica(sub, group, rep["name"], rep["location"], res.sku, rep.get("units", res.capacity),
                              demand=rep.get("demand"), seed=str(self.world.seed), parent=res.name)
            replica.metrics = {name: _series(value) for name, value in rep.get("metrics", {}).items()}
            self.world.replicas[replica.id.lower()] = replica
        if "autoscale" in spec:
            a = spec["autoscale"]
            self.world.autoscale.append(AutoscaleSetting(
                a.get("name", f"autoscale-{res.name}"), sub, group, res.location, res.id,
                a.get("enabled", True), a.get("min", 1), a.get("max", 5), a.get("default", 1)))
        if res.id.lower() in self.world.resources:
            raise ScenarioError(f"at {where}/name: resource {res.name!r} is defined twice")
        # Each resource starts with one regeneration behind it, so "stale" keys exist.
        res.key_generation = {"primary": 2, "secondary": 2}
        self.world.resources[res.id.lower()] = res

    def _lookup(self, name: str, where: str) -> WebPubSub:
        try:
            return self.world.resource_by_name(name)
        except KeyError:
            raise ScenarioError(f"at {where}: no Web PubSub resource named {name!r}") from None

    def _subst(self, text: str, where: str) -> str:
        return _ID_REF.sub(lambda m: self._lookup(m.group(1), where).id, text)

    def _secret_value(self, value: Any, where: str) -> str:
        if isinstance(value, str):
            return self._subst(value, where)
        res = self._lookup(value["connection_string"], f"{where}/connection_string")
        which = value.get("key", "primary")
        key = {"primary": res.key("primary"), "secondary": res.key("secondary"),
               "stale": res.stale_key("primary"), "stale-secondary": res.stale_key("secondary")}[which]
        endpoint = value.get("endpoint", f"https://{res.host}")
        return f"Endpoint={endpoint};AccessKey={key};Version=1.0;"

    def _row(self, row: dict[str, Any], where: str) -> dict[str, Any]:
        out = {k: self._subst(v, where) if isinstance(v, str) else v for k, v in row.items() if k != "minutes_ago"}
        out["TimeGenerated"] = utcnow() - timedelta(minutes=row.get("minutes_ago", 1))
        return out


def _series(value: Any) -> Series:
    if isinstance(value, (int, float)):
        return Series("constant", value=float(value))
    if "ramp" in value:
        return Series("ramp", start=value["ramp"][0], end=value["ramp"][1], over_minutes=value.get("over_minutes", 60))
    return Series("values", values=list(value["values"]))


def _guid(seed: int, name: str) -> str:
    import uuid
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/{name}"))
