"""Microsoft Teams through a Workflows webhook: one Adaptive Card 1.4 per message.

Office 365 connectors are retired; a Workflows "post to a channel when a webhook request is
received" flow takes the envelope below and answers 202 with an empty body.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from watchdog.models import Severity
from watchdog.notify.delivery import DELIVERY_HEADER, DeliveryResult, post
from watchdog.notify.message import Group, Item, Message
from watchdog.notify.registry import Notifier, Payload, register

if TYPE_CHECKING:
    from watchdog.notify.targets import Target

# Teams rejects messages over about 28 KB; stay well below, counting the envelope.
MAX_BYTES = 24_000
ITEMS_PER_GROUP = 8

_COLOUR = {Severity.CRITICAL: "Attention", Severity.WARNING: "Warning", Severity.INFO: "Default"}
_GROUP_COLOUR = {"firing": None, "reminder": None, "fixed": "Good", "resolved": "Good", "deleted": "Good"}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _when(item: Item) -> str:
    if item.kind in ("resolved", "fixed", "deleted") and item.resolved_at:
        since = f"{item.firing_since:%Y-%m-%d %H:%M} UTC → " if item.firing_since else ""
        return f"{since}{item.resolved_at:%Y-%m-%d %H:%M} UTC"
    return f"since {item.firing_since:%Y-%m-%d %H:%M} UTC" if item.firing_since else ""


def _item(item: Item, message: Message) -> dict[str, Any]:
    colour = _GROUP_COLOUR[item.kind] or _COLOUR[item.severity]
    body: list[dict[str, Any]] = [
        _text(f"**{str(item.severity).upper()}** · {item.rule}/{item.check} · {item.resource_name}", color=colour),
        _text(item.summary),
    ]
    facts = [{"title": "Resource", "value": f"[{item.resource_name}]({item.portal_url})"}]
    if link := message.status_link(item.resource_name):
        facts.append({"title": "Status", "value": f"[status page]({link})"})
    if item.subject and item.subject != item.resource_id:
        facts.append({"title": "Subject", "value": item.subject})
    if _when(item):
        facts.append({"title": "When", "value": _when(item)})
    facts.extend({"title": str(k), "value": _fact(v)} for k, v in item.evidence.items())
    body.append({"type": "FactSet", "facts": facts})
    if item.remedy:
        proof = f" Proof: {item.remedy.proof}" if item.remedy.proof else ""
        body.append(_text(f"**Watchdog did:** {item.remedy.summary}.{proof}", isSubtle=True))
    if item.guidance and item.kind in ("firing", "reminder"):
        body.append(_text(f"**How to fix:** {item.guidance}", isSubtle=True))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": body}


def _fact(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)[:200]
    return str(value)


def _group(group: Group, message: Message) -> list[dict[str, Any]]:
    if not group.total:
        return []
    blocks: list[dict[str, Any]] = [
        _text(f"{group.title} ({group.total})", weight="Bolder", size="Medium", spacing="Large", separator=True)
    ]
    blocks.extend(_item(i, message) for i in group.items)
    if group.omitted:
        blocks.append(_text(f"…and {group.omitted} more: see the watchdog's report.", isSubtle=True))
    return blocks


def card(message: Message) -> dict[str, Any]:
    worst = message.worst
    body: list[dict[str, Any]] = [
        _text(message.headline, weight="Bolder", size="Large", color=_COLOUR[worst] if worst else "Good"),
        _text(f"Sweep at {message.sent_at:%Y-%m-%d %H:%M} UTC · target {message.target}", isSubtle=True, spacing="None"),
    ]
    for group in message.groups:
        body.extend(_group(group, message))
    body.append(_text(f"Delivery {message.delivery_id}", isSubtle=True, size="Small", separator=True))
    link = message.status_link()
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
        **({"actions": [{"type": "Action.OpenUrl", "title": "Open the status page", "url": link}]} if link else {}),
    }


def envelope(message: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card(message)}
        ],
    }


def payload(message: Message) -> bytes:
    """The request body: fewer items per group until the card fits Teams' size limit."""
    limit = ITEMS_PER_GROUP
    while True:
        body = json.dumps(envelope(message.truncated(limit)), ensure_ascii=False).encode()
        if len(body) <= MAX_BYTES or limit == 0:
            return body
        limit //= 2


def render(message: Message) -> Payload:
    return Payload(payload(message), message.delivery_id)


def deliver(target: Target, sent: Payload, deadline: float, **http: Any) -> DeliveryResult:
    # Workflows ignores it, but a relay in between can dedupe retries by it.
    return post(target.url.reveal(), sent.body, {DELIVERY_HEADER: sent.delivery_id}, deadline=deadline, **http)


register(Notifier("teams", render, deliver))
