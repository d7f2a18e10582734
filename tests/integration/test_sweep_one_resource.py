"""An on-demand check of one resource makes only the calls that resource needs (issue 17): a
direct GET instead of the subscription's list, its own metrics batch, its log query filtered to it."""
from __future__ import annotations

import pytest

from watchdog.collect import logs
from watchdog.collect.caches import Caches
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.scope import Scope
from watchdog.sweep import run_sweep

from .sweep_helpers import settings_for

pytestmark = pytest.mark.integration


def ops(emulator, after: int = 0) -> list[str]:  # noqa: ANN001
    return [e.op for e in list(emulator.journal)[after:] if e.service == "arm"]


def test_a_resource_by_id_is_fetched_directly_with_its_own_metrics_and_a_filtered_log_query(emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    everything = run_sweep(settings)
    with_errors = [o for o in everything.observations if o.log_errors]
    assert with_errors  # the demo has handler errors in its logs: the filtered query must still see them
    target = with_errors[0].resource
    filters: list[tuple[str, ...]] = []
    real = logs.read_workspace

    def spied(client, workspace_id, resource_ids, window_minutes, idle_timeouts, now=None, only=()):  # noqa: ANN001, ANN202
        filters.append(tuple(only))
        return real(client, workspace_id, resource_ids, window_minutes, idle_timeouts, now, only)

    monkeypatch.setattr(logs, "read_workspace", spied)
    mark = len(emulator.journal)
    report = run_sweep(settings, Scope(resources=(target.id,)))
    assert [r.name for r in report.resources] == [target.name]
    assert "arm.listBySubscription" not in ops(emulator, mark) and ops(emulator, mark).count("arm.get") == 1
    assert report.api_calls["metrics"] == 2  # one batch of one resource per metric set
    assert filters == [(target.id.lower(),)]
    (obs,) = report.observations
    assert obs.log_errors == with_errors[0].log_errors


def test_a_name_the_ledger_knows_is_fetched_directly_an_unknown_one_is_listed(emulator, monkeypatch, tmp_path):
    settings = settings_for(emulator, monkeypatch)
    with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        unknown = run_sweep(settings, Scope(resources=("presence-eu",)), ledger=ledger, caches=Caches())
        assert "arm.listBySubscription" in ops(emulator)
        run_sweep(settings, ledger=ledger, caches=Caches())  # the ledger's cache now knows every resource
        mark = len(emulator.journal)
        known = run_sweep(settings, Scope(resources=("presence-eu",)), ledger=ledger, caches=Caches())
    assert [r.name for r in known.resources] == [r.name for r in unknown.resources] == ["presence-eu"]
    assert "arm.listBySubscription" not in ops(emulator, mark) and ops(emulator, mark).count("arm.get") == 1
    assert {f.fingerprint for f in known.findings} == {f.fingerprint for f in unknown.findings}


def test_an_id_that_does_not_exist_is_a_clear_error_not_a_silent_empty_report(emulator, monkeypatch):
    settings = settings_for(emulator, monkeypatch)
    rid = emulator.world.resource_by_name("presence-eu").id.replace("presence-eu", "no-such-resource")
    report = run_sweep(settings, Scope(resources=(rid,)))
    assert report.resources == []
    assert [(e.source, e.subject) for e in report.errors] == [("inventory", rid)]
    assert "ResourceNotFound" in report.errors[0].message
