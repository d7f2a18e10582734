"""Parse Web PubSub connection strings without ever echoing the key.

`Endpoint=https://<name>.webpubsub.azure.com;AccessKey=<key>;Version=1.0;` with an optional
`Port=`. Property names are case-insensitive; spaces around names and values, order and a trailing
`;` do not matter. Like the Python SDK, the first occurrence of a repeated property wins (that is
the value an application using the SDK would see). Error messages name properties, never values:
the SDK's own error text contains the whole connection string and must not be logged.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urlsplit

from watchdog.models import Sensitive

WEBPUBSUB_SUFFIX = ".webpubsub.azure.com"
SIGNALR_SUFFIX = ".signalr.net"
SERVICEBUS_SUFFIX = ".servicebus.windows.net"


@dataclass(frozen=True)
class ConnectionString:
    scheme: str  # https (http only for local/self-hosted)
    host: str  # lower case, no port
    port: int | None  # from Port= or the Endpoint URL; None = scheme default
    access_key: Sensitive
    version: str | None = None

    @property
    def endpoint(self) -> str:
        """scheme://host[:port], the form the SDK's `endpoint` argument takes."""
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port else "")


def _split(text: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for position, segment in enumerate(text.split(";"), start=1):
        if not segment.strip():
            continue
        if "=" not in segment:
            # The segment may be (part of) a key: say where it is, not what it is.
            raise ValueError(f"segment {position} is not Name=Value")
        name, value = segment.split("=", 1)
        props.setdefault(name.strip().lower(), value.strip())
    return props


def parse(text: str) -> ConnectionString:
    """Parse a connection string. Raises ValueError with a message free of the key."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty value, not a connection string")
    props = _split(text)
    endpoint = props.get("endpoint")
    if not endpoint:
        raise ValueError("no Endpoint property")
    key = props.get("accesskey")
    if not key:
        raise ValueError("no AccessKey property")
    try:
        url = urlsplit(endpoint)
        url_port = url.port
    except ValueError:
        raise ValueError("Endpoint is not a valid URL") from None
    if url.scheme.lower() not in ("http", "https") or not url.hostname:
        raise ValueError("Endpoint is not an http(s) URL with a host")
    if url.query or url.username or url.password:
        raise ValueError("Endpoint must not carry a query string or credentials")
    port = url_port
    if "port" in props:
        try:
            port = int(props["port"])
        except ValueError:
            raise ValueError("Port is not a number") from None
        if not 0 < port < 65536:
            raise ValueError("Port is out of range 1-65535")
    return ConnectionString(
        scheme=url.scheme.lower(),
        host=url.hostname.lower(),
        port=port,
        access_key=Sensitive(key),
        version=props.get("version") or None,
    )


class HostKind(str, enum.Enum):
    SAME_RESOURCE = "same-resource"
    OTHER_WEBPUBSUB = "other-webpubsub"
    SIGNALR = "signalr"  # Azure SignalR Service: a different product's connection string
    SERVICEBUS = "servicebus"  # Service Bus / Event Hubs: someone stored the wrong secret
    OTHER = "other"


def classify_host(host: str, resource_host: str) -> HostKind:
    """Say what kind of endpoint `host` is, relative to the resource that owns the secret."""
    host = host.strip().lower().rstrip(".")
    if host == resource_host.strip().lower().rstrip("."):
        return HostKind.SAME_RESOURCE
    if host.endswith(WEBPUBSUB_SUFFIX):
        return HostKind.OTHER_WEBPUBSUB
    if host.endswith(SIGNALR_SUFFIX):
        return HostKind.SIGNALR
    if host.endswith(SERVICEBUS_SUFFIX):
        return HostKind.SERVICEBUS
    return HostKind.OTHER
