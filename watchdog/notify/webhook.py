"""Generic webhook: JSON modelled on Azure Monitor's common alert schema, signed the Standard
Webhooks way (signing.py).

One POST per message; `alerts` holds one common-schema alert per item. Documented by
docs/webhook-schema.json. Receivers verify `webhook-signature` over id, timestamp and the exact
body, refuse stale timestamps and drop a repeated `webhook-id` (= `deliveryId`; retries reuse it).
`X-Watchdog-Signature: sha256=<hex>` (HMAC of the body alone, replayable) is still sent for one
release, deprecated.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from watchdog.models import Sensitive, Severity
from watchdog.notify import signing
from watchdog.notify.delivery import DELIVERY_HEADER, DeliveryResult, post
from watchdog.notify.message import Item, Message
from watchdog.notify.registry import Notifier, Payload, register

if TYPE_CHECKING:
    from watchdog.notify.targets import Target

SCHEMA_ID = "webPubSubWatchdog/1"
ITEMS_PER_GROUP = 100  # machines read these; truncation only guards against a runaway sweep
SIGNATURE_HEADER = "X-Watchdog-Signature"  # deprecated: replaced by signing.SIGNATURE_HEADER

# Azure Monitor: Sev0 critical, Sev1 error, Sev2 warning, Sev3 informational, Sev4 verbose.
SEVERITY = {Severity.CRITICAL: "Sev0", Severity.WARNING: "Sev2", Severity.INFO: "Sev3"}


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None


def _alert(item: Item, message: Message) -> dict[str, Any]:
    sent_at = message.sent_at
    resolved = item.kind in ("fixed", "resolved", "deleted")
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                # Stable per episode: a receiver can dedupe an alert repeated in a later message.
                "alertId": hashlib.sha256(item.episode.encode()).hexdigest()[:32],
                "originAlertId": item.fingerprint,
                "alertRule": f"{item.rule}/{item.check}",
                "severity": SEVERITY[item.severity],
                "signalType": "Watchdog",
                "monitorCondition": "Resolved" if resolved else "Fired",
                "monitoringService": "Web PubSub Watchdog",
                "alertTargetIDs": [item.resource_id],
                "configurationItems": [item.resource_name],
                "firedDateTime": _iso(item.firing_since),
                "resolvedDateTime": _iso(item.resolved_at or sent_at) if resolved else None,
                "description": item.summary,
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {
                "notification": item.kind,
                "reason": item.reason,
                "severity": str(item.severity),
                "rule": item.rule,
                "check": item.check,
                "subject": item.subject,
                "evidence": dict(item.evidence),
                "guidance": item.guidance,
                "portalUrl": item.portal_url,
                "statusUrl": message.status_link(item.resource_name),
                "remediation": None
                if item.remedy is None
                else {
                    "kind": item.remedy.kind,
                    "status": item.remedy.status,
                    "summary": item.remedy.summary,
                    "verified": item.remedy.verified,
                    "proof": item.remedy.proof,
                },
            },
        },
    }


def document(message: Message) -> dict[str, Any]:
    shown = message.truncated(ITEMS_PER_GROUP)
    return {
        "schemaId": SCHEMA_ID,
        "deliveryId": message.delivery_id,
        "target": message.target,
        "sentDateTime": _iso(message.sent_at),
        "headline": message.headline,
        "counts": {g.kind: {"total": g.total, "included": len(g.items)} for g in shown.groups},
        "alerts": [_alert(i, shown) for g in shown.groups for i in g.items],
    }


def payload(message: Message) -> bytes:
    return json.dumps(document(message), ensure_ascii=False, sort_keys=True).encode()


def sign(body: bytes, secret: Sensitive) -> str:
    """The deprecated X-Watchdog-Signature: keyed with the setting's text, as it always was."""
    return "sha256=" + hmac.new(secret.reveal().encode(), body, hashlib.sha256).hexdigest()


def headers(message: Message | Payload, body: bytes, secret: Sensitive | None,
            clock: Callable[[], float] = time.time) -> dict[str, str]:
    """For one attempt: built again before each retry, so webhook-timestamp is the attempt's."""
    out = {DELIVERY_HEADER: message.delivery_id, **signing.headers(message.delivery_id, body, secret, clock)}
    if secret is not None:
        out[SIGNATURE_HEADER] = sign(body, secret)
    return out


def render(message: Message) -> Payload:
    return Payload(payload(message), message.delivery_id)


def deliver(target: Target, sent: Payload, deadline: float, **http: Any) -> DeliveryResult:
    # Headers built again for each attempt: webhook-timestamp is the attempt's.
    return post(target.url.reveal(), sent.body, functools.partial(headers, sent, sent.body, target.secret),
                deadline=deadline, **http)


register(Notifier("webhook", render, deliver, signs=True))
