"""The one place that decides what of a text or URL may be shown: `scrub()` and `redact_url()`.

Every text that came from outside (SDK error messages, log samples, probe details, response
bodies) passes `scrub` before it reaches a finding, an outcome, a notification or a log line:
URL query strings (`?code=`, SAS `sig=`), `key=value` credentials (`AccessKey=`, `token=`...),
bearer tokens and JWTs are replaced by `<redacted>` (the watchdog's tag `webpubsub-key=` is not a
credential and stays). Imports nothing of the watchdog.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

_QUERY = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]*", re.I)
_KEY_VALUE = re.compile(
    r"(?<!webpubsub-)\b((?:Shared)?AccessKey|AccountKey|AccessToken|Signature|sig|code|key|token|secret|password)"
    r"\s*=\s*[^;&\s\"']+", re.I)
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]+", re.I)
_JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")


def scrub(text: str, limit: int | None = None) -> str:
    """`text` without credentials; cut to `limit` characters (ending in …) when given."""
    text = _QUERY.sub(r"\1?<redacted>", text)
    text = _KEY_VALUE.sub(r"\1=<redacted>", text)
    text = _BEARER.sub("Bearer <redacted>", text)
    text = _JWT.sub("<redacted-token>", text)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def redact_url(url: str) -> str:
    """scheme://host[:port]/path: what may be shown of a URL (never its query, fragment or user info)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "<unparsable url>"
    host = (parts.hostname or "").lower()
    return f"{parts.scheme.lower()}://{host}{f':{port}' if port else ''}{parts.path}"
