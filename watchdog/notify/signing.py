"""Webhook signatures as the Standard Webhooks specification (v1.0.0) defines them, so a receiver
can verify with any library that implements it:

    webhook-id         the message's delivery id: the same for every retry of that message
    webhook-timestamp  Unix seconds of the attempt (re-signed at each attempt, as the spec says)
    webhook-signature  v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

The key: a secret written `whsec_<base64>` (the spec's form) is the base64-decoded bytes, at
least 24 of them; any other secret (the plain string this setting always took) is its UTF-8
bytes, and a Standard Webhooks library is then given `whsec_` + base64 of those bytes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Callable

from watchdog.models import Sensitive

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # the specification's least for a symmetric secret


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret setting stands for. ValueError (naming no secret) when a `whsec_`
    secret is not base64 or too short."""
    if not secret.startswith(PREFIX):
        return secret.encode()
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"starts with {PREFIX} but the rest is not base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a {PREFIX} secret must decode to at least {MIN_KEY_BYTES} bytes (it has {len(key)})")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(msg_id: str, body: bytes, secret: Sensitive | None,
            clock: Callable[[], float] = time.time) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt; without a secret, id and timestamp only
    (still an idempotency key for the receiver)."""
    if "." in msg_id:
        raise ValueError("a webhook-id must not contain '.' (it delimits the signed content)")
    timestamp = int(clock())
    out = {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(timestamp)}
    if secret is not None:
        out[SIGNATURE_HEADER] = sign(secret_key(secret.reveal()), msg_id, timestamp, body)
    return out
