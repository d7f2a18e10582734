"""Links to the status page that messages carry (Teams cards, webhook alerts). A leaf: no watchdog imports."""
from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit


def status_link(base_url: str, resource: str | None = None) -> str:
    """The page's address for one resource (or all): base URL without its query, plus our own."""
    parts = urlsplit(base_url)
    query = {"format": "html", **({"resource": resource} if resource else {})}
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
