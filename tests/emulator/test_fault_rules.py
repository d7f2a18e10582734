"""Fault rules on their own: when they fire, what they match, how bad rules are refused, the
scenario syntax and the admin API. (What the SDKs see is tests/emulator/test_faults.py.)"""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
import yaml

from emulator.faults import OPERATIONS, FaultError
from emulator.scenario import ScenarioError, load
from emulator.services import all_services

SUB = "00000000-0000-0000-0000-00000000000a"


def scenario(**extra) -> dict:
    base = {"name": "rules", "seed": 3, "subscriptions": [{"id": SUB, "resource_groups": [{"name": "rg", "webpubsub": [
        {"name": "chat-one", "sku": "Standard_S1"}, {"name": "chat-two", "sku": "Standard_S1"}]}]}]}
    base.update(extra)
    return base


def fired(world, calls: int, service: str = "arm", op: str = "arm.get", path: str = "/x", body: bytes = b"") -> list:
    return [n for n in range(1, calls + 1)
            if world.faults.plan(service, op, "GET", "management.azure.com", path, body).ids]


@pytest.mark.parametrize("rule, calls", [
    ({"from_call": 3}, [3, 4, 5, 6, 7, 8, 9, 10]),
    ({"from_call": 3, "times": 2}, [3, 4]),
    ({"every": 3}, [3, 6, 9]),
    ({"every": 2, "from_call": 5}, [6, 8, 10]),
    ({"times": 1}, [1]),
])
def test_when_a_rule_fires(rule: dict, calls: list[int]) -> None:
    world = load(scenario())
    world.faults.add(service="arm", status=503, **rule)
    assert fired(world, 10) == calls


def test_a_rate_is_seeded_so_runs_repeat() -> None:
    runs = []
    for _ in range(2):
        world = load(scenario())
        world.faults.add(service="arm", status=500, rate=0.3)
        runs.append(fired(world, 200))
    assert runs[0] == runs[1] and 40 <= len(runs[0]) <= 80
    other = load(scenario(seed=4))
    other.faults.add(service="arm", status=500, rate=0.3)
    assert fired(other, 200) != runs[0]


def test_rules_match_by_service_operation_and_resource() -> None:
    world = load(scenario())
    one = world.resource_by_name("chat-one").id
    world.faults.add(service="metrics", operation="metrics:getBatch", resource="chat-one", status=403)
    batch = f'{{"resourceids": ["{one}"]}}'.encode()
    assert fired(world, 1, "metrics", "metrics.getBatch", "/subscriptions/s/metrics:getBatch", batch)
    assert not fired(world, 1, "metrics", "metrics.getBatch", "/subscriptions/s/metrics:getBatch", b"{}")
    assert not fired(world, 1, "arm", "arm.get", one)  # another service
    world.faults.add(service="arm", resource="chat-one", status=500)
    assert fired(world, 1, "arm", "arm.get", one) and fired(world, 1, "arm", "arm.listKeys", one + "/listKeys")
    assert not fired(world, 1, "arm", "arm.get", one + "x")  # chat-onex is another resource
    world.faults.clear("arm")
    world.faults.add(service="arm", operation="GET /providers/Microsoft.Insights/diagnosticSettings$", status=404)
    assert fired(world, 1, "arm", "arm.diagnosticSettings", f"{one}/providers/Microsoft.Insights/diagnosticSettings")
    assert not fired(world, 1, "arm", "arm.get", one)


def test_several_rules_combine_latency_and_the_first_final_fault() -> None:
    world = load(scenario())
    world.faults.add(service="arm", latency_ms=200)
    world.faults.add(service="arm", status=429)
    world.faults.add(service="arm", status=500)
    plan = world.faults.plan("arm", "arm.get", "GET", "management.azure.com", "/x")
    assert plan.delay == pytest.approx(0.2) and plan.final.status == 429 and plan.ids == ["f1", "f2", "f3"]
    assert plan.final.headers() == {"Retry-After": "1"}


@pytest.mark.parametrize("rule, message", [
    ({"service": "arm", "operation": "getKeys", "status": 500}, "arm has no operation 'getKeys'"),
    ({"service": "arm", "partial": "x"}, "only logs"),
    ({"service": "arm", "operation": "get", "lro": "Failed"}, "lro/lro_seconds: needs service arm and operation among"),
    ({"service": "arm", "delete": "ghost"}, "no Web PubSub resource named 'ghost'"),
    ({"service": "arm", "operation": "get"}, "no effect"),
    ({"service": "arm", "status": 200}, "status: 200 is less than the minimum of 400"),
    ({"service": "queues", "status": 500}, "service: 'queues' is not one of"),
    ({"service": "arm", "status": 500, "every": 0}, "every: 0 is less than the minimum of 1"),
])
def test_bad_rules_are_refused_with_the_field_named(rule: dict, message: str) -> None:
    world = load(scenario())
    with pytest.raises(FaultError, match=message):
        world.faults.add(**rule)
    assert len(world.faults) == 0


def test_scenarios_declare_rules_and_the_old_shorthand_still_compiles() -> None:
    world = load(scenario(faults=[{"service": "metrics", "operation": "getBatch", "status": 529, "from_call": 2},
                                  {"service": "arm", "operation": "listBySubscription", "delete": "chat-two"}]))
    assert [(f.id, f.service, f.status, f.delete) for f in world.faults] == [
        ("f1", "metrics", 529, None), ("f2", "arm", None, "chat-two")]
    old = load(scenario(faults={"metrics": {"throttle_every": 2, "retry_after": 7, "latency_ms": {"median": 5}}}))
    assert [(f.every, f.status, f.retry_after, f.latency_ms) for f in old.faults] == [
        (0, None, None, {"median": 5}), (2, 529, 7, 0.0)]
    with pytest.raises(ScenarioError, match="at faults/0: fault lro"):
        load(scenario(faults=[{"service": "logs", "lro": "Failed"}]))


def test_the_operation_list_is_every_route_the_services_serve() -> None:
    world = load(scenario())
    served: dict[str, set[str]] = {}
    for service in all_services(world):
        served.setdefault(service.name, set()).update(r.op.split(".", 1)[1] for r in service.routes)
    served["identity"] = {"token"}  # the plain-HTTP managed identity endpoint (runtime.py)
    assert {s: set(ops) for s, ops in OPERATIONS.items()} == served


def test_the_admin_api_adds_lists_and_clears_faults(emulator_factory) -> None:
    emu = emulator_factory(scenario(hosts={"hooks.contoso.com": {"kind": "webhook"}}))
    admin = emu.env["EMULATOR_ADMIN_URL"]
    added = requests.post(f"{admin}/faults", json={"service": "customer", "status": 503, "times": 1}, timeout=5)
    assert added.json() == {"ids": ["f1"]}
    assert requests.post("https://hooks.contoso.com/x", json={}, timeout=5).status_code == 503
    assert requests.post("https://hooks.contoso.com/x", json={}, timeout=5).status_code == 200
    (listed,) = requests.get(f"{admin}/faults", timeout=5).json()
    assert (listed["id"], listed["calls"], listed["fired"], listed["status"]) == ("f1", 2, 1, 503)
    bad = requests.post(f"{admin}/faults", json={"service": "customer", "reset": "yes"}, timeout=5)
    assert bad.status_code == 400 and "reset" in bad.json()["error"]
    assert requests.delete(f"{admin}/faults/f1", timeout=5).json() == {"ok": True}
    assert requests.delete(f"{admin}/faults/f1", timeout=5).status_code == 404
    assert requests.get(f"{admin}/faults", timeout=5).json() == []


def test_the_readme_scenario_example_loads_with_its_faults() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("### Writing a scenario", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    world = load(yaml.safe_load(block))
    assert [(f.service, f.status, f.delete) for f in world.faults] == [("metrics", 529, None), ("arm", None, "chat")]
