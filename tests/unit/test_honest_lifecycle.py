"""A finding resolves only when what its check needs was observed (issue 11): coverage per
resource, vault/workspace-scoped blind spots, deleted resources, and what coverage a sweep
computes from its errors."""
from __future__ import annotations

from datetime import timedelta

from tests.factories import NOW, metrics, observation, resource, resource_id
from watchdog.ledger.base import FindingState, NotifyState
from watchdog.models import ObservationError, Severity
from watchdog.models_resource import Diagnostics
from watchdog.notify.lifecycle import DecisionKind, decide, next_finding_states
from watchdog.sweep.coverage import covered
from watchdog.sweep.seen import read_scopes

EARLIER = NOW - timedelta(minutes=10)
RID = resource_id("wps-live").lower()
VAULT = "https://kv-ops.vault.azure.net"
ALL = frozenset({"inventory", "metrics", "logs", "keys", "secrets", "probes", "hubs", "diagnostics", "autoscale"})


def state(rule: str = "capacity", check: str = "utilisation", rid: str = RID) -> FindingState:
    return FindingState(f"{rule}-{check}-{rid}"[-20:], rule, check, Severity.WARNING, rid, "connections", "97%",
                        "firing", EARLIER, EARLIER)


def test_a_finding_whose_source_was_not_read_keeps_firing():
    s = state()
    changed = next_finding_states({s.fingerprint: s}, [], set(), {RID}, NOW, {RID: ALL - {"metrics"}})
    assert changed == {}


def test_a_finding_resolves_when_every_source_it_needs_was_read():
    s = state()
    changed = next_finding_states({s.fingerprint: s}, [], set(), {RID}, NOW, {RID: frozenset({"inventory", "metrics"})})
    assert changed[s.fingerprint].status == "resolved"


def test_a_blind_spot_resolves_only_when_its_source_is_read_again():
    s = state("blind-spot", "metrics-forbidden")
    assert next_finding_states({s.fingerprint: s}, [], set(), {RID}, NOW, {RID: ALL - {"metrics"}}) == {}
    assert next_finding_states({s.fingerprint: s}, [], set(), {RID}, NOW, {RID: ALL})[s.fingerprint].status == "resolved"


def test_a_vault_scoped_blind_spot_resolves_when_the_vault_is_read_again():
    s = state("blind-spot", "secrets-forbidden", VAULT)
    assert next_finding_states({s.fingerprint: s}, [], set(), {RID}, NOW, {RID: ALL}) == {}
    scopes = read_scopes(["sub"], [VAULT + "/"], [], [])
    assert next_finding_states({s.fingerprint: s}, [], set(), scopes, NOW, {})[s.fingerprint].status == "resolved"
    failed = [ObservationError("secrets", "forbidden", "403", subject=VAULT)]
    assert VAULT.lower() not in read_scopes(["sub"], [VAULT], [], failed)


def test_a_workspace_is_a_read_scope_when_some_resource_sends_logs_there():
    ws = "/subscriptions/s/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/law"
    obs = observation(diagnostics=Diagnostics((ws,), ("ConnectivityLogs",)))
    assert ws in read_scopes([], [], [obs], [])
    assert ws not in read_scopes([], [], [obs], [ObservationError("logs", "timeout", "t", subject=ws)])


def test_a_deleted_resource_closes_its_findings_as_deleted_not_resolved():
    s = state()
    changed = next_finding_states({s.fingerprint: s}, [], set(), set(), NOW, {}, {RID})
    assert changed[s.fingerprint].status == "resolved"
    told = {s.fingerprint: NotifyState("ops", s.fingerprint, "firing", EARLIER, "x")}
    (d,) = decide({}, changed, told, set(), NOW, timedelta(hours=4), {RID})
    assert d.kind is DecisionKind.DELETED and "deleted" in d.reason
    (plain,) = decide({}, changed, told, set(), NOW, timedelta(hours=4))
    assert plain.kind is DecisionKind.RESOLVED


def test_coverage_leaves_out_what_failed_or_was_never_read():
    res = resource(name="wps-live")
    obs = observation(res, metrics=metrics(), errors=(ObservationError("hubs", "forbidden", "403", resource_id=res.id),))
    seen = covered(obs)
    assert {"metrics", "inventory"} <= seen and not {"hubs", "probes"} & seen
    assert "metrics" not in covered(observation(res, metrics=None))
    assert "secrets" not in covered(obs, [ObservationError("secrets", "timeout", "t", subject=VAULT)])


def test_a_resource_gone_mid_sweep_or_an_unanswered_proof_is_not_coverage():
    from dataclasses import replace as copy

    from tests.factories import secret as bound_secret
    from watchdog.models import DataPlaneProof

    res = resource(name="wps-live")
    gone = observation(res, metrics=metrics(), errors=(ObservationError("hubs", "not-found", "404", resource_id=res.id),))
    assert covered(gone) == frozenset()
    unanswered = copy(bound_secret(), proof=DataPlaneProof(None, "unreachable", "no answer"))
    assert "secrets" not in covered(observation(res, metrics=metrics(), secrets=(unanswered,)))


def test_a_ledger_blind_spot_resolves_once_the_ledger_works_again():
    s = state("blind-spot", "ledger-unreachable", "ledger")
    assert next_finding_states({s.fingerprint: s}, [], set(), {RID}, NOW, {RID: ALL}) == {}
    assert next_finding_states({s.fingerprint: s}, [], set(), {RID, "ledger"}, NOW, {})[s.fingerprint].status == "resolved"
