"""Who claims a secret, and what key-drift says about a binding the watchdog may not write."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tests.factories import NOW, SETTINGS, keys, observation, resource, resource_id, secret
from watchdog.checks import key_drift
from watchdog.collect.bindings import annotate, claims
from watchdog.collect.proofs import Listed
from watchdog.collect.secrets import Binding

KV = "https://kv-prod.vault.azure.net"
URI = f"{KV}/secrets/wps-conn"
A, B, C = (resource_id(n).lower() for n in ("wps-a", "wps-b", "wps-c"))


@pytest.mark.parametrize("bindings, listed, expected", [
    # one resource, bound both ways: no conflict
    ([Binding(A, KV, "wps-conn")], {URI: Listed(None, True, claimed_for=A)}, {A}),
    # two resources' watchdog-secrets tags name the secret
    ([Binding(A, KV, "wps-conn"), Binding(B, KV, "wps-conn")], {}, {A, B}),
    # a resource's tag names the secret, whose own tag names another resource (even one out of scope)
    ([Binding(A, KV, "wps-conn")], {URI: Listed(None, True, claimed_for=C)}, {A, C}),
    # the secret URI's case does not hide a claim
    ([Binding(A, KV, "WPS-CONN")], {URI: Listed(None, True, claimed_for=B)}, {A, B}),
])
def test_claims_from_both_kinds_of_tag(bindings, listed, expected) -> None:
    assert claims(bindings, listed)[URI] == frozenset(expected)


def test_each_resource_sees_the_other_claimants() -> None:
    annotated = annotate({A: [secret()], B: [secret()]}, {URI: frozenset({A, B})})
    assert annotated[A][0].claimed_by == (B,) and annotated[B][0].claimed_by == (A,)
    assert annotate({A: [secret()]}, {URI: frozenset({A})})[A][0].claimed_by == ()


def _checks(sec, settings=SETTINGS) -> dict[str, str]:  # noqa: ANN001
    obs = observation(resource(), keys=keys(), secrets=(sec,))
    return {f.check: str(f.severity) for f in key_drift.check(obs, settings, NOW)}


def test_a_conflicting_binding_is_critical_beside_the_other_verdicts() -> None:
    found = _checks(secret("fp-old", claimed_by=(B,)))
    assert found["conflicting-binding"] == "critical" and "stale-key" in found


def test_a_vault_outside_the_allow_list_is_a_warning_and_still_judged() -> None:
    assert _checks(secret("fp-old"), replace(SETTINGS, key_vaults=())) == {
        "vault-not-allowed": "warning", "stale-key": "warning"}  # accepted proof: stale-key is a warning
    assert "vault-not-allowed" not in _checks(secret(), replace(SETTINGS, key_vaults=(KV.upper() + "/",)))


def test_a_healthy_single_binding_in_an_allowed_vault_says_nothing() -> None:
    assert _checks(secret()) == {}
