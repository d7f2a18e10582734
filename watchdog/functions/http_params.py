"""The HTTP check's parameters: query string, overlaid by a JSON object body on POST, each checked
for type and value before anything runs. A `BadParameter` names the parameter and what is wrong."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from ..config import MODES
from ..scope import parse_resource

PARAMETERS = ("resource", "format", "mode", "severity", "fresh", "code")
_MAX_RESOURCE = 400  # an ARM id is at most ~300 characters; longer is refused without being echoed


class BadParameter(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Query:
    resource: str | None  # normalised name or ARM id; None = every resource
    fmt: str
    severity: str | None
    mode: str | None  # None = not asked (off)
    fresh: bool


def raw_params(req: func.HttpRequest) -> dict[str, Any]:
    """Query parameters (strings), overlaid by a JSON object body on POST (any JSON type)."""
    params: dict[str, Any] = dict(req.params.items())
    if req.method == "POST" and req.get_body():
        try:
            body = json.loads(req.get_body())
        except ValueError:
            raise BadParameter("body", 'the body is not JSON; send an object like {"resource": "name"}') from None
        if not isinstance(body, dict):
            raise BadParameter("body", "the body must be a JSON object")
        params.update(body)
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise BadParameter(unknown[0][:64], f"unknown parameter {unknown[0][:64]!r}; use "
                           f"{', '.join(p for p in PARAMETERS if p != 'code')}")
    return params


def _text(params: dict[str, Any], name: str, allowed: tuple[str, ...] | None = None) -> str | None:
    value = params.get(name)
    if name not in params:
        return None
    if not isinstance(value, str):
        raise BadParameter(name, f"{name} must be a string, not {_json_type(value)}")
    if allowed is not None and value not in allowed:
        raise BadParameter(name, f"{name} {value[:64]!r} is not one of {', '.join(allowed)}")
    return value


def _json_type(value: Any) -> str:
    return {type(None): "null", bool: "a boolean", int: "a number", float: "a number", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def _resource(params: dict[str, Any]) -> str | None:
    if "resource" not in params:
        return None
    value = params["resource"]
    if not isinstance(value, str):
        raise BadParameter("resource", f"resource must be a string (a Web PubSub resource name or ARM id), "
                           f"not {_json_type(value)}; leave it out for every resource")
    if not value.strip():
        raise BadParameter("resource", "resource is empty; name a Web PubSub resource, or leave it out for every resource")
    if len(value) > _MAX_RESOURCE:
        raise BadParameter("resource", f"resource is {len(value)} characters long; a resource id has at most {_MAX_RESOURCE}")
    try:
        return parse_resource(value)
    except ValueError as exc:
        raise BadParameter("resource", str(exc)) from None


def _fresh(params: dict[str, Any]) -> bool:
    value = params.get("fresh", False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadParameter("fresh", "fresh must be true or false")


def parse(req: func.HttpRequest, formats: tuple[str, ...], filters: tuple[str, ...]) -> Query:
    params = raw_params(req)
    fmt = _text(params, "format", formats)
    if fmt is None:  # a browser asks for HTML; API callers get JSON unless they name a format
        accept = req.headers.get("Accept", "")
        fmt = "html" if "text/html" in accept and "application/json" not in accept else "json"
    return Query(resource=_resource(params), fmt=fmt, severity=_text(params, "severity", filters),
                 mode=_text(params, "mode", MODES), fresh=_fresh(params))
