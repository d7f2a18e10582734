"""What a sweep covers: subscriptions, and optionally some resources by ARM id or name.

Parsing lives here so the CLI and the HTTP function give the same clear answer to bad input.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RESOURCE_ID = re.compile(
    rf"^/subscriptions/(?P<sub>{_GUID})/resourceGroups/(?P<rg>[-\w._()]{{1,90}})"
    r"/providers/Microsoft\.SignalRService/WebPubSub/(?P<name>[a-zA-Z][a-zA-Z0-9-]{2,62})$",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{2,62}$")
SUBSCRIPTION = re.compile(rf"^{_GUID}$")


def parse_resource(text: str) -> str:
    """A Web PubSub resource id or name, normalised; ValueError says what is wrong."""
    text = text.strip()
    if text.startswith("/"):
        if not _RESOURCE_ID.match(text.rstrip("/")):
            raise ValueError(
                f"{text!r} is not a Web PubSub resource id; expected "
                "/subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.SignalRService/WebPubSub/<name>"
            )
        return text.rstrip("/")
    if not _NAME.match(text):
        raise ValueError(f"{text!r} is not a Web PubSub resource name (3-63 letters, digits, hyphens) or resource id")
    return text


def subscription_of(resource: str) -> str | None:
    """The subscription named in a resource id (lower case); None for a bare name."""
    m = _RESOURCE_ID.match(resource)
    return m.group("sub").lower() if m else None


def parse_subscription(text: str) -> str:
    if not SUBSCRIPTION.match(text.strip()):
        raise ValueError(f"{text!r} is not a subscription id (a GUID)")
    return text.strip().lower()


@dataclass(frozen=True)
class Scope:
    subscriptions: tuple[str, ...] = ()  # empty: the settings' subscriptions
    resources: tuple[str, ...] = ()  # ids or names; empty: every resource

    def includes(self, resource_id: str, name: str) -> bool:
        if not self.resources:
            return True
        return any(r.lower() in (resource_id.lower(), name.lower()) for r in self.resources)

    def subscriptions_of(self, configured: tuple[str, ...]) -> tuple[str, ...]:
        """Explicit subscriptions, else those named in resource ids, else the configured ones."""
        if self.subscriptions:
            return self.subscriptions
        from_ids = tuple(dict.fromkeys(m.group("sub").lower() for r in self.resources if (m := _RESOURCE_ID.match(r))))
        if from_ids and len(from_ids) == len(self.resources):
            return from_ids
        return configured
