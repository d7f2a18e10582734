"""The notifier registry: each target kind is one sender with one interface.

    render(message) -> Payload                       the bytes to send, built from a Message only
    deliver(target, payload, deadline, **http)       POST within `deadline` -> DeliveryResult

`targets.KINDS` (the values WATCHDOG_NOTIFY_<NAME>_KIND accepts) comes from here. Adding a notifier
(Slack, PagerDuty...): a module in `watchdog/notify/` that renders the Message its way, delivers
with `delivery.post` (timeouts, retries, Retry-After, redaction) and calls `register`; import it
at the top of `watchdog/notify/__init__.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from watchdog.notify.delivery import DeliveryResult
    from watchdog.notify.message import Message
    from watchdog.notify.targets import Target


@dataclass(frozen=True)
class Payload:
    body: bytes
    delivery_id: str  # the receiver's idempotency key; retries reuse it


@dataclass(frozen=True)
class Notifier:
    kind: str
    render: Callable[[Message], Payload]
    deliver: Callable[..., DeliveryResult]  # (target, payload, deadline, *, session, clock, sleep)
    signs: bool = False  # accepts WATCHDOG_NOTIFY_<NAME>_SECRET


_KINDS: dict[str, Notifier] = {}


def register(notifier: Notifier) -> Notifier:
    if notifier.kind in _KINDS:
        raise ValueError(f"notifier {notifier.kind} is registered twice")
    _KINDS[notifier.kind] = notifier
    return notifier


def notifiers() -> tuple[Notifier, ...]:
    return tuple(_KINDS.values())


def kinds() -> tuple[str, ...]:
    return tuple(_KINDS)


def get(kind: str) -> Notifier:
    try:
        return _KINDS[kind]
    except KeyError:
        raise KeyError(f"no notifier of kind {kind!r} is registered") from None


def send(target: Target, message: Message, deadline: float, **http: Any) -> DeliveryResult:
    """Render `message` for the target's kind and deliver it."""
    notifier = get(target.kind)
    return notifier.deliver(target, notifier.render(message), deadline, **http)
