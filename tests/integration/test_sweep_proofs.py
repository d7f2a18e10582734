"""Bound secrets read and proven on change only, with the proofs kept in the ledger: through the
real SDKs against the emulator, each sweep with its own AzureClients and fresh in-process caches
(as a fresh process would), only the SQLite file shared."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from watchdog.models import Report
from watchdog.sweep import run_sweep

from .sweep_helpers import settings_for
from .test_sweep_cache import fresh_process_sweep

pytestmark = pytest.mark.integration
VAULT = "kv-demo-contoso"
SECRETS = ["chat-prod-connection", "notify-prod-connection", "presence-connection"]
HOSTS = ["chat-prod.webpubsub.azure.com", "notify-prod.webpubsub.azure.com", "presence-eu.webpubsub.azure.com"]
# chat-prod's secret holds a key the service rejects: known-broken is not news, so like the others
# it is read and proven again only on change (its version, its resource's activity log) or at its
# slot in the proof interval, its finding kept from the record meanwhile.
REJECTED = "chat-prod-connection"


@pytest.fixture
def steady(emulator):  # noqa: ANN001, ANN201
    """Secrets written ten minutes ago: a read now is not in the same second as a write."""
    for vault in emulator.world.vaults.values():
        for versions in vault.secrets.values():
            for v in versions:
                v.created = v.updated = v.updated - timedelta(minutes=10)
    return emulator


def secret_reads(emulator, after: int) -> list[str]:  # noqa: ANN001
    return sorted(e.path.strip("/").split("/")[1] for e in list(emulator.journal)[after:]
                  if e.op == "keyvault.getSecret")


def proofs_to(emulator, after: int) -> list[str]:  # noqa: ANN001
    return sorted(e.host for e in list(emulator.journal)[after:] if e.service == "dataplane")


def drift(report: Report) -> dict[str, tuple[str, str]]:
    """Secret name -> (check, severity) of the key-drift findings."""
    return {f.subject.rsplit("/", 1)[1]: (f.check, f.severity.name.lower()) for f in report.findings if f.rule == "key-drift"}


def test_unchanged_secrets_are_not_read_or_proven_again_and_keep_their_findings(steady, monkeypatch, tmp_path):
    settings = settings_for(steady, monkeypatch)
    path = tmp_path / "ledger.sqlite3"
    first = fresh_process_sweep(settings, path)
    assert secret_reads(steady, 0) == SECRETS and proofs_to(steady, 0) == HOSTS
    mark = len(steady.journal)

    second = fresh_process_sweep(settings, path)
    assert secret_reads(steady, mark) == [] and proofs_to(steady, mark) == []
    assert drift(second) == drift(first) and drift(first)[REJECTED][1] == "critical"
    assert sorted(f.fingerprint for f in second.findings) == sorted(f.fingerprint for f in first.findings)
    # A reused proof says when it was made.
    proved_at = {f.subject.rsplit("/", 1)[1]: f.evidence["proved_at"]
                 for f in second.findings if f.rule == "key-drift"}
    assert proved_at == {"notify-prod-connection": first.started_at.isoformat(),
                         REJECTED: first.started_at.isoformat()}
    assert second.api_calls.get("dataplane", 0) == 0 and second.api_calls["keyvault"] == 1  # the list
    assert second.api_calls.get("arm-write", 0) == 0  # no listKeys for the known-broken secret
    stored = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("ledger.sqlite3-*"))
    assert b"secret-proof" in stored
    for versions in steady.world.vaults[VAULT].secrets.values():
        key = versions[-1].value.split("AccessKey=")[1].split(";")[0]
        assert key.encode() not in stored and versions[-1].value.encode() not in stored


def test_a_new_secret_version_is_read_and_proven_alone(steady, monkeypatch, tmp_path):
    settings = settings_for(steady, monkeypatch)
    path = tmp_path / "ledger.sqlite3"
    fresh_process_sweep(settings, path)
    vault = steady.world.vaults[VAULT]
    vault.set_secret("presence-connection", vault.latest("presence-connection").value,
                     tags=vault.latest("presence-connection").tags)
    mark = len(steady.journal)

    fresh_process_sweep(settings, path)
    assert secret_reads(steady, mark) == ["presence-connection"]
    assert proofs_to(steady, mark) == ["presence-eu.webpubsub.azure.com"]


def test_a_regenerated_key_is_proven_again_and_the_drift_caught(steady, monkeypatch, tmp_path):
    settings = settings_for(steady, monkeypatch)
    path = tmp_path / "ledger.sqlite3"
    first = fresh_process_sweep(settings, path)
    assert drift(first)["notify-prod-connection"] == ("secondary-key", "warning")
    steady.regenerate_key("notify-prod", "secondary")  # recorded in the activity log
    mark = len(steady.journal)

    second = fresh_process_sweep(settings, path)
    assert secret_reads(steady, mark) == ["notify-prod-connection"]
    assert proofs_to(steady, mark) == ["notify-prod.webpubsub.azure.com"]
    check, severity = drift(second)["notify-prod-connection"]
    assert severity == "critical" and check in ("stale-key", "key-rejected")
    (finding,) = [f for f in second.findings if f.subject.endswith("/notify-prod-connection")]
    assert finding.evidence["proof_status"] == 401


def test_each_proof_is_made_again_once_per_interval_at_its_own_slot(steady, monkeypatch, tmp_path):
    settings = settings_for(steady, monkeypatch, WATCHDOG_PROOF_INTERVAL_MINUTES="60")
    path = tmp_path / "ledger.sqlite3"
    now = datetime.now(timezone.utc)
    fresh_process_sweep(settings, path, now=now)
    reads: list[str] = []
    for minutes in range(5, 65, 5):  # twelve timer sweeps, 5 minutes apart, over one interval
        mark = len(steady.journal)
        fresh_process_sweep(settings, path, now=now + timedelta(minutes=minutes))
        reads += secret_reads(steady, mark)
        assert proofs_to(steady, mark) == sorted(h for h, s in zip(HOSTS, SECRETS) if s in secret_reads(steady, mark))
    assert sorted(reads) == SECRETS  # each once, the rejected one included


def test_a_secret_written_just_before_its_read_is_read_once_more(emulator, monkeypatch, tmp_path):
    # Key Vault's times are to the second: a second write in the same second would go unseen.
    settings = settings_for(emulator, monkeypatch)
    path = tmp_path / "ledger.sqlite3"
    fresh_process_sweep(settings, path)
    mark = len(emulator.journal)
    fresh_process_sweep(settings, path, now=datetime.now(timezone.utc) + timedelta(minutes=2))
    assert secret_reads(emulator, mark) == SECRETS
    mark = len(emulator.journal)
    fresh_process_sweep(settings, path, now=datetime.now(timezone.utc) + timedelta(minutes=3))
    assert secret_reads(emulator, mark) == []


def test_without_a_ledger_every_secret_is_read_and_proven_each_sweep(steady, monkeypatch):
    settings = settings_for(steady, monkeypatch)
    run_sweep(settings)
    mark = len(steady.journal)
    run_sweep(settings)
    assert secret_reads(steady, mark) == SECRETS and proofs_to(steady, mark) == HOSTS
