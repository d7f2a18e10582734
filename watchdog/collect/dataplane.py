"""The data-plane proof: does the service accept a stored key? A harmless authenticated call.

HEAD /api/hubs/watchdog/connections/<random id>: 404 (no such connection) or 200 means the key
was accepted, 401 means it was rejected. /api/health proves nothing (it needs no key).
"""
from __future__ import annotations

import secrets
from typing import Callable

from watchdog.connstr import ConnectionString
from watchdog.models import DataPlaneProof, Sensitive

PROOF_HUB = "watchdog"


def normalised(cs: ConnectionString) -> Sensitive:
    """The connection string rebuilt from its parsed parts, so the SDK's parser (whose errors
    echo the whole string) only ever sees a well-formed value."""
    return Sensitive(f"Endpoint={cs.endpoint};AccessKey={cs.access_key.reveal()};Version=1.0;")


def prove(client_for: Callable[[Sensitive, str], object], cs: ConnectionString) -> DataPlaneProof:
    """`client_for`: AzureClients.dataplane. Never raises; never puts the key in `detail`."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

    try:
        client = client_for(normalised(cs), PROOF_HUB)
        exists = client.connection_exists(f"watchdog-proof-{secrets.token_hex(8)}")  # type: ignore[attr-defined]
    except ClientAuthenticationError as exc:
        return DataPlaneProof(exc.status_code or 401, "rejected", "the service refused the key")
    except HttpResponseError as exc:
        return DataPlaneProof(exc.status_code, "unreachable", f"unexpected answer {exc.status_code}")
    except AzureError as exc:  # no answer, a reset or a read timeout (ServiceResponseError) alike
        return DataPlaneProof(None, "unreachable", f"no answer from {cs.host}: {type(exc).__name__}")
    return DataPlaneProof(200 if exists else 404, "accepted", "")
