"""Which cold hubs and diagnostics reads fit in ARM's read budget (watchdog/sweep/budget.py), as
a pure function of what is needed and what each subscription can afford."""
from __future__ import annotations

from watchdog.models import ErrorKind
from watchdog.models_resource import Resource
from watchdog.sweep.budget import ColdReads, select_cold_reads, select_replica_reads

SUB_A = "00000000-0000-0000-0000-00000000000a"
SUB_B = "00000000-0000-0000-0000-00000000000b"


def resource(sub: str, name: str) -> Resource:
    rid = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.SignalRService/WebPubSub/{name}"
    return Resource(rid, sub, "rg", name, "westeurope", f"{name}.webpubsub.azure.com", "Standard_S1", "Standard", 1)


def by_id(*resources: Resource) -> dict[str, Resource]:
    return {r.id.lower(): r for r in resources}


def names(reads: dict[str, Resource]) -> list[str]:
    return sorted(r.name for r in reads.values())


def deferred(cold: ColdReads) -> list[tuple[str, str]]:
    return [(source, r.name) for source, r in cold.deferred]


def test_without_a_budget_everything_needed_is_read():
    a, b = resource(SUB_A, "a"), resource(SUB_A, "b")
    cold = select_cold_reads(by_id(a, b), by_id(a), None)
    assert names(cold.hubs) == ["a", "b"] and names(cold.diagnostics) == ["a"] and cold.deferred == []
    assert cold.errors() == []


def test_warm_hubs_come_first_then_cold_resources_in_id_order_each_read_whole():
    warm, c1, c2, c3 = (resource(SUB_A, n) for n in ("z-warm", "c1", "c2", "c3"))
    # z-warm needs only its hubs (1 read); c1..c3 need hubs and diagnostics (2 reads each).
    cold = select_cold_reads(by_id(warm, c1, c2, c3), by_id(c1, c2, c3), {SUB_A: 4})
    assert names(cold.hubs) == ["c1", "z-warm"] and names(cold.diagnostics) == ["c1"]
    # 1 read left: not enough for c2 whole, and never half of it.
    assert deferred(cold) == [("hubs", "c2"), ("diagnostics", "c2"), ("hubs", "c3"), ("diagnostics", "c3")]


def test_each_subscription_spends_its_own_budget():
    a1, a2, b1 = resource(SUB_A, "a1"), resource(SUB_A, "a2"), resource(SUB_B, "b1")
    cold = select_cold_reads(by_id(a1, a2, b1), by_id(a1, a2, b1), {SUB_A: 2, SUB_B: 0})
    assert names(cold.hubs) == names(cold.diagnostics) == ["a1"]
    assert deferred(cold) == [("hubs", "a2"), ("diagnostics", "a2"), ("hubs", "b1"), ("diagnostics", "b1")]


def test_a_budget_below_zero_defers_everything_and_the_input_budget_is_left_alone():
    a = resource(SUB_A, "a")
    budget = {SUB_A: -3}  # the other first-wave reads alone exceed what is left
    cold = select_cold_reads(by_id(a), by_id(a), budget)
    assert cold.hubs == {} and cold.diagnostics == {} and budget == {SUB_A: -3}
    assert deferred(cold) == [("hubs", "a"), ("diagnostics", "a")]


def test_deferred_reads_become_deferred_errors_naming_the_deadline_setting():
    a = resource(SUB_A, "a")
    (hubs, diags) = select_cold_reads(by_id(a), by_id(a), {SUB_A: 1}).errors()
    assert (hubs.source, diags.source) == ("hubs", "diagnostics")
    assert hubs.kind == diags.kind == ErrorKind.DEFERRED and hubs.resource_id == a.id
    assert "WATCHDOG_SWEEP_DEADLINE_SECONDS" in hubs.message


def test_replica_lists_get_what_the_cold_reads_leave_and_the_rest_is_deferred():
    a, b, p1, p2, q = (resource(SUB_A, n) for n in ("a", "b", "p1", "p2", "q"))
    cold = select_cold_reads(by_id(a), by_id(a, b), {SUB_A: 5, SUB_B: 0})  # a: 2 reads, b: 1 read
    chosen, late = select_replica_reads([p2, p1], {SUB_A: 5, SUB_B: 0}, cold)
    assert [r.name for r in chosen] == ["p1", "p2"] and late == []  # 5 - 3 leaves exactly two, in id order
    chosen, late = select_replica_reads([p2, p1, q], {SUB_A: 5}, cold)
    assert [r.name for r in chosen] == ["p1", "p2"]
    assert [(e.source, e.kind, e.resource_id) for e in late] == [("replicas", ErrorKind.DEFERRED, q.id)]
    other = resource(SUB_B, "z")
    assert select_replica_reads([other], {SUB_A: 5, SUB_B: 0}, cold)[0] == []
    assert select_replica_reads([q, p1], None, cold) == ([p1, q], [])  # no deadline: no limit
