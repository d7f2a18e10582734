"""hubs/*: connections (or EventHandlerNotFound closes) against the hub settings."""
import pytest

from tests.factories import NOW, SETTINGS, metrics, observation, resource
from watchdog.checks import hubs
from watchdog.models import Severity
from watchdog.models_resource import EventHandler

CONNECTED = {"TotalConnectionCount:Maximum": [0, 12, 40]}
IDLE = {"TotalConnectionCount:Maximum": [0, 0, 0]}
NOT_FOUND = {"EventHandlerNotFound": 9}


def handler(hub, *events):
    return EventHandler(hub=hub, url_redacted="https://h/api", host="h", system_events=events)


@pytest.mark.parametrize(
    "hub_names, handlers, series, closes, expected",
    [
        ((), (), CONNECTED, {}, [("none", Severity.WARNING, None)]),
        ((), (), IDLE, {}, []),  # nobody connects: no hub is needed
        (None, (), CONNECTED, {}, []),  # hubs not read: a blind spot, not a verdict
        (("chat",), (handler("chat", "connect"),), CONNECTED, {}, []),
        (("chat",), (handler("chat"),), CONNECTED, {}, []),  # user events only, no closes: fine
        (("chat", "feed"), (handler("chat", "connect"),), CONNECTED, {},
         [("no-handler", Severity.INFO, "feed")]),
        (("chat", "feed"), (handler("chat", "connect"),), CONNECTED, NOT_FOUND,
         [("no-handler", Severity.WARNING, "feed")]),
        (("feed",), (), IDLE, NOT_FOUND, [("no-handler", Severity.WARNING, "feed")]),
        (("chat",), (handler("chat", "connected", "disconnected"),), CONNECTED, NOT_FOUND,
         [("system-events", Severity.WARNING, "chat")]),
        (("chat",), (handler("chat", "connected"), handler("chat", "Connect")), CONNECTED, NOT_FOUND, []),
        (("chat",), (handler("chat", "connected", "disconnected"),), CONNECTED, {"Normal": 5}, []),
    ],
)
def test_hubs(hub_names, handlers, series, closes, expected):
    obs = observation(resource(), hubs=hub_names, handlers=handlers, metrics=metrics(series, closes))
    found = hubs.check(obs, SETTINGS, NOW)
    assert [(f.check, f.severity, f.evidence.get("hub")) for f in found] == expected


def test_without_metrics_nothing_is_said():
    assert hubs.check(observation(resource(), hubs=(), metrics=None), SETTINGS, NOW) == []


def test_each_hub_is_its_own_subject():
    obs = observation(resource(), hubs=("a", "b"), metrics=metrics(CONNECTED))
    assert [f.subject.rsplit("/", 1)[-1] for f in hubs.check(obs, SETTINGS, NOW)] == ["a", "b"]
