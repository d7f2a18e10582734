"""What the ledger keeps per resource: hub names and replicas survive the JSON round trip; an entry
stored before they were kept reads back as "not known" (None), never as "none"."""
import json
from dataclasses import replace

from tests.factories import NOW, resource
from watchdog.collect.cache import Entry, from_payload, to_payload
from watchdog.collect.replicas import to_payload as replicas_payload
from watchdog.models import Sensitive
from watchdog.models_resource import Diagnostics, EventHandler

DIAG = Diagnostics(("/ws",), ("ConnectivityLogs",))
HANDLER = EventHandler(hub="chat", url_redacted="https://h/api", host="h", system_events=("connect",))


def test_hub_names_and_replicas_round_trip():
    parent = resource(sku="Premium_P1")
    rep = replace(resource(sku="Premium_P1", units=2), id=f"{parent.id}/replicas/wps-eastus", name="wps-eastus",
                  location="eastus", host_name="")
    entry = Entry([(HANDLER, Sensitive("https://h/api"))], DIAG, NOW, ("chat", "feed"), (rep,))
    back = from_payload(json.loads(json.dumps(to_payload(entry))), NOW)
    assert back.hubs == ("chat", "feed") and back.replicas == (rep,)
    assert replicas_payload(back.replicas) == replicas_payload((rep,))


def test_an_entry_from_before_is_unknown_not_empty():
    old = {"diagnostics": {"workspace_ids": ["/ws"], "log_categories": []}, "handlers": []}
    back = from_payload(old, NOW)
    assert back.hubs is None and back.replicas is None
    empty = from_payload(to_payload(Entry([], DIAG, NOW, (), ())), NOW)
    assert empty.hubs == () and empty.replicas == ()
