"""The one scrub() and redact_url() every report, outcome, notification and log line goes through."""
from __future__ import annotations

import pytest

from watchdog.redact import redact_url, scrub

PLANTED = "PLANTEDk3yZZ0123456789abcdefghijklmnopqrstuv"


@pytest.mark.parametrize("text, kept", [
    (f"https://h/p?code={PLANTED}", "https://h/p?<redacted>"),
    (f"Endpoint=https://w.webpubsub.azure.com;AccessKey={PLANTED};Version=1.0;",
     "Endpoint=https://w.webpubsub.azure.com;AccessKey=<redacted>;Version=1.0;"),
    (f"AccountKey={PLANTED}", "AccountKey=<redacted>"),
    (f"x-sig={PLANTED}&a=1", "x-sig=<redacted>&a=1"),
    (f"token = {PLANTED}", "token=<redacted>"),
    (f"Bearer {PLANTED}", "Bearer <redacted>"),
    ("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4f", "jwt <redacted-token>"),
    # The watchdog's own tag is guidance, not a credential.
    ("tag the secret webpubsub-key=secondary", "tag the secret webpubsub-key=secondary"),
    ("plain text with numbers 42", "plain text with numbers 42"),
])
def test_scrub(text, kept):
    assert scrub(text) == kept


def test_scrub_cuts_to_a_limit():
    assert scrub("x" * 50, 10) == "x" * 9 + "…"
    assert scrub("short", 10) == "short"


@pytest.mark.parametrize("url, shown", [
    ("https://User:pw@Api.Contoso.com:8443/h?code=s3cret#f", "https://api.contoso.com:8443/h"),
    ("https://h.example/p?sig=x", "https://h.example/p"),
    ("https://[::1", "<unparsable url>"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown
