"""Tags are not authority: a secret two resources claim is never written, and secret sync writes
only to the vaults of WATCHDOG_KEY_VAULTS. Full sweeps through the real SDKs against the emulator."""
from __future__ import annotations

from pathlib import Path

from tests.integration.sweep_helpers import settings_for
from watchdog import tags
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.sweep import run_sweep

VAULT = "https://kv-demo-contoso.vault.azure.net"
SECRET = f"{VAULT}/secrets/chat-prod-connection"  # tagged webpubsub-resource-id = chat-prod in the demo
ACT = {"secret-sync": "on", "scale": "off", "scale-in": "off"}


def _sync(report):  # noqa: ANN001, ANN202
    return [o for o in report.outcomes if o.action.kind == "secret-sync" and o.action.subject.lower() == SECRET]


def _found(report, check: str) -> dict[str, object]:  # noqa: ANN001
    return {f.resource_id.rsplit("/", 1)[-1]: f for f in report.findings if (f.rule, f.check) == ("key-drift", check)}


def test_a_secret_claimed_by_two_resources_is_critical_and_never_written(emulator, monkeypatch, tmp_path: Path) -> None:
    settings = settings_for(emulator, monkeypatch)
    ledger = SqliteLedger(str(tmp_path / "ledger.sqlite3"))  # leases: without a ledger nothing is written anyway
    try:
        _conflict_then_resolved(emulator, settings, ledger)
    finally:
        ledger.close()


def _conflict_then_resolved(emulator, settings, ledger) -> None:  # noqa: ANN001
    with emulator.world.lock:  # another team tags its resource with chat-prod's secret
        emulator.world.resource_by_name("notify-prod").tags[tags.SECRETS] = SECRET
    emulator.journal.clear()
    report = run_sweep(settings, mode=ACT, ledger=ledger)

    conflicts = _found(report, "conflicting-binding")
    assert set(conflicts) == {"chat-prod", "notify-prod"}
    assert {str(f.severity) for f in conflicts.values()} == {"critical"}
    assert conflicts["chat-prod"].evidence["claimed_by"] == [emulator.world.resource_by_name("notify-prod").id.lower()]
    outcomes = _sync(report)
    assert outcomes and {(o.status, o.guard) for o in outcomes} == {("skipped", "conflicting-binding")}
    assert emulator.journal.where(op="keyvault.setSecret") == []

    # The conflict gone, the drifted secret is written again.
    with emulator.world.lock:
        del emulator.world.resource_by_name("notify-prod").tags[tags.SECRETS]
    report = run_sweep(settings, mode=ACT, ledger=ledger)
    assert _found(report, "conflicting-binding") == {}
    assert [o.status for o in _sync(report)] == ["done"]
    assert len(emulator.journal.where(op="keyvault.setSecret")) == 1


def test_a_secret_in_a_vault_outside_the_allow_list_is_reported_and_never_written(emulator, monkeypatch,
                                                                                  tmp_path: Path) -> None:
    with emulator.world.lock:  # bound by the resource's own tag, so the sweep still finds it
        emulator.world.resource_by_name("chat-prod").tags[tags.SECRETS] = SECRET
    settings = settings_for(emulator, monkeypatch, WATCHDOG_KEY_VAULTS="https://kv-elsewhere.vault.azure.net")
    emulator.journal.clear()
    with SqliteLedger(str(tmp_path / "ledger.sqlite3")) as ledger:
        report = run_sweep(settings, mode=ACT, ledger=ledger)

    outside = _found(report, "vault-not-allowed")
    assert set(outside) == {"chat-prod"} and str(outside["chat-prod"].severity) == "warning"
    assert "stale-key" in {f.check for f in report.findings if f.resource_id.endswith("/chat-prod")}  # still judged
    assert {(o.status, o.guard) for o in _sync(report)} == {("skipped", "vault-not-allowed")}
    assert emulator.journal.where(op="keyvault.setSecret") == []
