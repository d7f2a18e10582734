"""The Event Grid trigger: a Web PubSub resource or a watched secret changed, so check that one
thing now (watchdog/events/). Ignored events are acknowledged (return normally); a failure or a
check already running for the same target raises, so Event Grid delivers the event again."""
from __future__ import annotations

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("watchdog.events")


def as_document(event: func.EventGridEvent) -> dict:
    """The delivered event as the Event Grid schema (what the worker decoded it from)."""
    return {"id": event.id, "topic": event.topic, "subject": event.subject, "eventType": event.event_type,
            "eventTime": event.event_time, "data": event.get_json(), "dataVersion": event.data_version}


@bp.function_name("events")
@bp.event_grid_trigger(arg_name="event")
def events(event: func.EventGridEvent) -> None:
    from ..events.handle import handle
    from ..ledger import open_ledger
    from ..settings import load
    from . import CACHES

    settings, _ = load()
    with open_ledger(settings) as ledger:
        handled = handle(as_document(event), settings, ledger, caches=CACHES)
    log.info("event %s: %s (%s)", event.id, handled.decision, handled.reason)
