"""Event Grid for the emulated Azure: after a change (regenerateKey, a PATCH or delete, a new
secret version, by anyone), POST the system event Azure would raise, in Microsoft's shape (the
Event Grid schema, or CloudEvents 1.0), to an endpoint, after a delivery delay with jitter (a
seeded RNG), retrying non-2xx answers on a schedule like Event Grid's and dead-lettering what
runs out of attempts.

Hooks in the world are two callbacks (World.on_activity, Vault.on_set); nothing else in the
emulator knows about events. Deliveries run on one background thread; `drain()` waits for them.
Scenario options (key `event_grid:`): see SCHEMA and DEFAULTS.
"""
from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from . import clock

SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {
    "delay_seconds": {"type": "number", "minimum": 0},
    "jitter_seconds": {"type": "number", "minimum": 0},
    "max_attempts": {"type": "integer", "minimum": 1},
    "retry_seconds": {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1},
    "schema": {"enum": ["eventgrid", "cloudevents"]},
}}
# Event Grid retries after 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, then hourly, for 24 hours
# or 30 attempts (Microsoft Learn, "Event Grid message delivery and retry"). Tests shorten it.
DEFAULTS: dict[str, Any] = {"delay_seconds": 1.0, "jitter_seconds": 0.5, "max_attempts": 30,
                            "retry_seconds": [10, 30, 60, 300, 600, 1800, 3600], "schema": "eventgrid"}
# Answers Event Grid does not retry: straight to the dead-letter destination.
NOT_RETRIED = frozenset({400, 401, 403, 413})

_TYPES = {"action": "Microsoft.Resources.ResourceActionSuccess", "write": "Microsoft.Resources.ResourceWriteSuccess",
          "delete": "Microsoft.Resources.ResourceDeleteSuccess"}
SECRET_NEW_VERSION = "Microsoft.KeyVault.SecretNewVersionCreated"

Endpoint = Callable[[list[dict[str, Any]]], int]  # one POST of a batch -> HTTP status (0: no answer)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def resource_event(tenant: str, event: Any) -> dict[str, Any]:
    """An ARM event (world.ActivityEvent) as the subscription's system topic raises it."""
    rid, op = event.resource_id, event.operation
    sub = rid.split("/")[2]
    kind = "action" if op.lower().endswith("/action") else op.rsplit("/", 1)[-1].lower()
    method = {"action": "POST", "write": "PATCH", "delete": "DELETE"}.get(kind, "POST")
    return {"id": str(uuid.uuid4()), "topic": f"/subscriptions/{sub}", "subject": rid,
            "eventType": _TYPES.get(kind, _TYPES["action"]), "eventTime": _iso(event.at),
            "data": {"authorization": {"scope": rid, "action": op, "evidence": {"role": "Owner"}},
                     "claims": {"name": event.caller}, "correlationId": event.correlation_id,
                     "httpRequest": {"clientRequestId": str(uuid.uuid4()), "clientIpAddress": "203.0.113.7",
                                     "method": method, "url": f"https://management.azure.com{rid}"},
                     "resourceProvider": op.split("/", 1)[0], "resourceUri": rid, "operationName": op,
                     "status": event.status, "subscriptionId": sub, "tenantId": tenant},
            "dataVersion": "2", "metadataVersion": "1"}


def secret_event(vault: Any, name: str, version: Any) -> dict[str, Any]:
    """SecretNewVersionCreated as a vault's system topic raises it (Pascal-case data fields)."""
    topic = (f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}"
             f"/providers/Microsoft.KeyVault/vaults/{vault.name}")
    unix = (lambda d: int(d.timestamp()) if d else None)  # noqa: E731
    return {"id": str(uuid.uuid4()), "topic": topic, "subject": name, "eventType": SECRET_NEW_VERSION,
            "eventTime": _iso(clock.now()),
            "data": {"Id": f"{vault.url}/secrets/{name}/{version.version}", "VaultName": vault.name,
                     "ObjectType": "Secret", "ObjectName": name, "Version": version.version,
                     "NBF": unix(version.not_before), "EXP": unix(version.expires)},
            "dataVersion": "1", "metadataVersion": "1"}


def to_cloud_event(doc: dict[str, Any]) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema (Event Grid's mapping: topic -> source)."""
    return {"specversion": "1.0", "id": doc["id"], "source": doc["topic"], "subject": doc["subject"],
            "type": doc["eventType"], "time": doc["eventTime"], "data": doc["data"]}


def http_endpoint(url: str, timeout: float = 10.0) -> Endpoint:
    """POST to a URL as Event Grid does (webhook delivery header); no answer counts as 0."""
    import requests

    def post(batch: list[dict[str, Any]]) -> int:
        try:
            return requests.post(url, json=batch, headers={"aeg-event-type": "Notification"},
                                 timeout=(5, timeout)).status_code
        except requests.RequestException:
            return 0
    return post


@dataclass
class Sent:
    event: dict[str, Any]
    attempts: int
    status: int
    at: datetime  # emulated time of the last attempt
    dead_lettered: bool = False


class EventGrid:
    """Delivers the world's changes to `endpoint`. Options: the scenario's `event_grid:`,
    overridden by keyword arguments."""

    def __init__(self, world: Any, endpoint: Endpoint, **options: Any) -> None:
        self.world, self.endpoint = world, endpoint
        self.options = {**DEFAULTS, **world.event_grid, **options}
        self.rng = random.Random(world.seed)
        self.sent: list[Sent] = []
        self._queue: list[tuple[float, int, dict[str, Any], int]] = []
        self._order = itertools.count()
        self._busy = 0
        self._stopped = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="emulator-eventgrid", daemon=True)

    def start(self) -> EventGrid:
        self.world.on_activity.append(self._on_activity)
        for vault in self.world.vaults.values():
            vault.on_set = self._on_secret
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._on_activity in self.world.on_activity:
            self.world.on_activity.remove(self._on_activity)
        for vault in self.world.vaults.values():
            vault.on_set = None
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(10)

    def __enter__(self) -> EventGrid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def dead_letters(self) -> list[Sent]:
        return [s for s in self.sent if s.dead_lettered]

    def delivered(self) -> list[dict[str, Any]]:
        return [s.event for s in self.sent if 200 <= s.status < 300]

    def publish(self, event: dict[str, Any]) -> None:
        """Queue one event for delivery after the delay (also for tests replaying an event)."""
        delay = self.options["delay_seconds"] + self.rng.uniform(-1, 1) * self.options["jitter_seconds"]
        self._push(time.monotonic() + max(0.0, delay), event, 0)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until nothing is queued or being delivered (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # -- internals ---------------------------------------------------------------------------

    def _on_activity(self, event: Any) -> None:
        self.publish(resource_event(self.world.tenant_id, event))

    def _on_secret(self, vault: Any, name: str, version: Any) -> None:
        self.publish(secret_event(vault, name, version))

    def _push(self, due: float, event: dict[str, Any], attempts: int) -> None:
        with self._cond:
            heapq.heappush(self._queue, (due, next(self._order), event, attempts))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._queue or self._queue[0][0] > time.monotonic()):
                    self._cond.wait(self._queue[0][0] - time.monotonic() if self._queue else None)
                if self._stopped:
                    return
                _, _, event, attempts = heapq.heappop(self._queue)
                self._busy += 1
            try:
                self._attempt(event, attempts + 1)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, event: dict[str, Any], attempts: int) -> None:
        body = to_cloud_event(event) if self.options["schema"] == "cloudevents" else event
        try:
            status = self.endpoint([body])
        except Exception:  # noqa: BLE001 - an endpoint that blows up is an endpoint that did not answer
            status = 0
        if 200 <= status < 300 or status in NOT_RETRIED or attempts >= self.options["max_attempts"]:
            self.sent.append(Sent(event, attempts, status, clock.now(), dead_lettered=not 200 <= status < 300))
            return
        schedule = self.options["retry_seconds"]
        self._push(time.monotonic() + schedule[min(attempts - 1, len(schedule) - 1)], event, attempts)
