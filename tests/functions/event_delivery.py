"""An Event Grid endpoint that is the Functions `events` function, called in-process as the host
calls it: each delivered event decoded by the Python worker's own Event Grid converter."""
from __future__ import annotations

import json
import logging
from typing import Any

from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from tests.functions.test_wiring import functions

log = logging.getLogger("tests.events")


def function_endpoint(errors: list[BaseException] | None = None):  # noqa: ANN201 - emulator.eventgrid.Endpoint
    user_function = functions()["events"].get_user_function()

    def deliver(batch: list[dict[str, Any]]) -> int:
        for doc in batch:
            event = EventGridEventInConverter.decode(meta.Datum(json.dumps(doc), "json"), trigger_metadata=None)
            try:
                user_function(event)
            except Exception as exc:  # noqa: BLE001 - the host answers 500 and Event Grid retries
                log.info("event function failed: %s", type(exc).__name__)
                if errors is not None:
                    errors.append(exc)
                return 500
        return 200
    return deliver
