"""One delivered event (Event Grid schema or CloudEvents 1.0, as Event Grid delivers either) to a
`Change`, or to `Ignored` with the reason. Pure: no Azure call, no ledger."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from watchdog.events import types
from watchdog.scope import parse_resource

RESOURCE, SECRET = "resource", "secret"


@dataclass(frozen=True)
class Change:
    """What changed, as far as the watchdog cares: one Web PubSub resource or one secret."""

    event_id: str
    event_type: str
    at: datetime  # when Azure says it happened (eventTime / time)
    kind: str  # RESOURCE or SECRET
    target: str  # lower-case resource id, or the secret's URI without version
    subscription: str = ""  # RESOURCE: lower-case subscription id
    operation: str = ""  # RESOURCE: data.operationName
    correlation_id: str = ""  # RESOURCE: data.correlationId
    vault: str = ""  # SECRET: vault name (lower case)
    secret: str = ""  # SECRET: secret name
    version: str = ""  # SECRET: the version the event is about


@dataclass(frozen=True)
class Ignored:
    event_id: str
    reason: str


def _ci(data: Mapping[str, Any], name: str) -> Any:
    """Key Vault events spell their data fields in Pascal case (Id, VaultName); read any case."""
    lowered = name.lower()
    return next((v for k, v in data.items() if k.lower() == lowered), None)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.utcoffset() is not None else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Event Grid writes up to 7 fractional digits; fromisoformat takes at most 6.
    if "." in text:
        head, tail = text.split(".", 1)
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=timezone.utc)


def envelope(doc: Mapping[str, Any]) -> tuple[str, str, datetime | None, Mapping[str, Any]]:
    """(id, type, time, data) of either schema: CloudEvents has specversion/type/time, the Event
    Grid schema eventType/eventTime."""
    if "specversion" in doc:
        return str(doc.get("id") or ""), str(doc.get("type") or ""), _time(doc.get("time")), doc.get("data") or {}
    return str(doc.get("id") or ""), str(doc.get("eventType") or ""), _time(doc.get("eventTime")), doc.get("data") or {}


def parse(doc: Mapping[str, Any], subscriptions: tuple[str, ...], vaults: Mapping[str, str],
          received: datetime | None = None) -> Change | Ignored:
    """`subscriptions`: the watched subscription ids (lower case); `vaults`: watched vault name
    (lower case) -> vault URL; `received`: when it arrived. Anything else is acknowledged and ignored."""
    event_id, event_type, at, data = envelope(doc)
    if not event_id or not isinstance(data, Mapping) or not data:
        return Ignored(event_id, "not an Event Grid event (no id or data)")
    # The Functions Python worker's Event Grid converter reads the Event Grid schema only: a
    # CloudEvent reaches the function without its type and time. The data says what it is about,
    # and it is judged as of its arrival (so no check that started earlier covers it).
    at = at or received
    if at is None:
        return Ignored(event_id, "no event time")
    if not event_type:
        event_type = types.RESOURCE_WRITE_SUCCESS if "operationName" in data else (
            types.SECRET_NEW_VERSION_CREATED if _ci(data, "VaultName") else "")
    if event_type in types.RESOURCE_EVENTS:
        return _resource(event_id, event_type, at, data, subscriptions)
    if event_type in types.SECRET_EVENTS:
        return _secret(event_id, event_type, at, data, vaults)
    return Ignored(event_id, f"event type {event_type or '(none)'} is not one the watchdog handles")


def _resource(event_id: str, event_type: str, at: datetime, data: Mapping[str, Any],
              subscriptions: tuple[str, ...]) -> Change | Ignored:
    operation = str(data.get("operationName") or "")
    if operation.lower() not in {o.lower() for o in types.OPERATIONS}:
        return Ignored(event_id, f"operation {operation or '(none)'} is not a Web PubSub change the watchdog checks")
    if str(data.get("status") or "Succeeded").lower() != "succeeded":
        return Ignored(event_id, f"operation status {data.get('status')} (only succeeded changes are checked)")
    try:
        resource_id = parse_resource(str(data.get("resourceUri") or ""))
    except ValueError:
        return Ignored(event_id, "resourceUri is not a Web PubSub resource id")
    subscription = resource_id.split("/")[2].lower()
    if subscription not in subscriptions:
        return Ignored(event_id, f"subscription {subscription} is not watched")
    return Change(event_id, event_type, at, RESOURCE, resource_id.lower(), subscription=subscription,
                  operation=operation, correlation_id=str(data.get("correlationId") or ""))


def _secret(event_id: str, event_type: str, at: datetime, data: Mapping[str, Any],
            vaults: Mapping[str, str]) -> Change | Ignored:
    if str(_ci(data, "ObjectType") or "").lower() != types.SECRET_OBJECT_TYPE.lower():
        return Ignored(event_id, f"object type {_ci(data, 'ObjectType')} is not a secret")
    vault, name = str(_ci(data, "VaultName") or "").lower(), str(_ci(data, "ObjectName") or "")
    if not vault or not name:
        return Ignored(event_id, "no VaultName or ObjectName")
    if vault not in vaults:
        return Ignored(event_id, f"vault {vault} is not in WATCHDOG_KEY_VAULTS")
    uri = f"{vaults[vault].rstrip('/')}/secrets/{name}"
    return Change(event_id, event_type, at, SECRET, uri, vault=vault, secret=name,
                  version=str(_ci(data, "Version") or ""))
