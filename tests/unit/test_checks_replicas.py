"""replicas/*: each replica judged on its own metrics, reported under its parent."""
from dataclasses import replace

import pytest

from tests.factories import NOW, SETTINGS, metrics, observation, resource
from watchdog.checks import replicas
from watchdog.collect.metrics import REPLICA_NAMESPACE, plan_batches
from watchdog.models import ReplicaObservation, Severity


def replica(name="wps-westus2", units=1, location="westus2"):
    parent = resource(sku="Premium_P1")
    return replace(resource(sku="Premium_P1", units=units), id=f"{parent.id}/replicas/{name}", name=name,
                   location=location)


@pytest.mark.parametrize("series, closes, expected", [
    ({"TotalConnectionCount:Maximum": [100, 300]}, {}, []),
    ({"TotalConnectionCount:Maximum": [700, 850]}, {}, [("utilisation", Severity.WARNING)]),
    ({"TotalConnectionCount:Maximum": [900, 1000]}, {"Throttled": 12},
     [("utilisation", Severity.CRITICAL), ("throttled", Severity.CRITICAL)]),
    ({"TotalConnectionCount:Maximum": [10], "ServerLoad:Maximum": [75]}, {}, [("server-load", Severity.WARNING)]),
    ({}, {}, []),  # no data: capacity's no-data is not mirrored
])
def test_a_replica_is_judged_on_its_own_metrics(series, closes, expected):
    parent = resource(sku="Premium_P1", units=10)  # the parent has room: only the replica's numbers count
    obs = observation(parent, metrics=metrics({"TotalConnectionCount:Maximum": [100]}),
                      replicas=(ReplicaObservation(replica(), metrics(series, closes)),))
    found = replicas.check(obs, SETTINGS, NOW)
    assert [(f.check, f.severity) for f in found] == expected
    assert all(f.resource_id == parent.id and f.subject == replica().id and f.rule == "replicas" for f in found)


def test_unread_replicas_or_their_metrics_say_nothing():
    parent = resource(sku="Premium_P1")
    assert replicas.check(observation(parent, replicas=None), SETTINGS, NOW) == []
    assert replicas.check(observation(parent, replicas=(ReplicaObservation(replica(), None),)), SETTINGS, NOW) == []


def test_the_parents_threshold_tags_apply_to_its_replicas():
    parent = resource(sku="Premium_P1", tags={"watchdog-capacity-warn": "50", "watchdog-capacity-crit": "95"})
    obs = observation(parent, replicas=(ReplicaObservation(replica(), metrics({"TotalConnectionCount:Maximum": [600]})),))
    [f] = replicas.check(obs, SETTINGS, NOW)
    assert (f.check, f.severity, f.evidence["replica"]) == ("utilisation", Severity.WARNING, "wps-westus2")


def test_replicas_get_batches_of_their_own_resource_type():
    parent, rep = resource(sku="Premium_P1", name="a"), replica(location="westeurope")
    batches = plan_batches([parent, rep])
    assert sorted((b.namespace, [r.name for r in b.resources]) for b in batches) == [
        ("Microsoft.SignalRService/WebPubSub", ["a"]), (REPLICA_NAMESPACE, ["wps-westus2"])]
