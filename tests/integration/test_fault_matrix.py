"""The fault matrix (issue 11): each fault, sweeps across sweeps, through the real SDKs to the
emulator, with a real ledger. Per case: a healthy sweep tells the target everything; the fault
is on for one or more sweeps; then it is lifted and a last sweep runs. Asserted for every case:

- every sweep ends inside its budget (WATCHDOG_SWEEP_BUDGET_SECONDS, small here);
- a fault that fired and hides a source is a blind spot naming that source, and the missing
  right (a 403) or the cause (its kind);
- no finding is resolved that was not observed: nothing still true at the end was told
  "resolved" (or closed as a new episode) meanwhile;
- no notification lost or sent twice: every finding firing at the end reached the target once
  for its episode, and no (finding, kind, episode) was accepted twice;
- no secret written without verification: every setSecret is in the audit trail as done, with
  its new version noted and a verdict of its proof.

The figures (sweeps, faults fired, false resolutions, lost, duplicates, longest sweep against
its budget) are printed per case; README's "What happens when..." table is checked against CASES.
"""
from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tests.factories import webhook_target_env

from tests.integration.sweep_helpers import settings_for
from tests.ledger_faults import sqlite_locked
from watchdog.ledger.guard import open_guarded
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.ledger.table import TableLedger
from watchdog.models import Sensitive
from watchdog.settings import Settings
from watchdog.sweep import run_sweep

pytestmark = pytest.mark.integration

HOOK = "hooks.contoso.com"
HANDLER = "events.fabrikam.com"
BUDGET = 30
ENV = {
    **webhook_target_env(HOOK),
    "WATCHDOG_SWEEP_BUDGET_SECONDS": str(BUDGET),
    "WATCHDOG_SWEEP_DEADLINE_SECONDS": "30",
    "WATCHDOG_CONNECT_TIMEOUT_SECONDS": "2",
    "WATCHDOG_READ_TIMEOUT_SECONDS": "2",
    "WATCHDOG_PROBE_TIMEOUT_SECONDS": "1",
    "WATCHDOG_PROOF_INTERVAL_MINUTES": "0",
    "WATCHDOG_SQLITE_BUSY_SECONDS": "1",
}
OFF = {"secret-sync": "off", "scale": "off", "scale-in": "off"}


@dataclass(frozen=True)
class Case:
    id: str
    faults: tuple[dict[str, Any], ...] = ()
    blind: tuple[str, ...] = ()  # sources a fired fault must show as a blind spot
    kind: str | None = None  # the blind spot's kind (forbidden names the missing right too)
    sweeps: int = 1  # how many sweeps the fault stays on
    ledger: str | None = None  # sqlite-locked, sqlite-write-locked, table-refused, table-unavailable
    mode: dict[str, str] = field(default_factory=lambda: OFF)
    what: str = ""  # README: what the watchdog does


def f(service: str, **kw: Any) -> dict[str, Any]:
    return {"service": service, **kw}


CASES = (
    Case("metrics 403", (f("metrics", status=403),), ("metrics",), "forbidden",
         what="critical `metrics-forbidden` naming Microsoft.Insights/Metrics/Read; capacity findings keep firing, nothing resolved"),
    Case("metrics 429 twice", (f("metrics", status=429, times=2, retry_after=1),),
         what="retried after Retry-After; no blind spot"),
    Case("metrics 429 throughout", (f("metrics", status=429, retry_after=1),), ("metrics",), "throttled",
         what="`metrics-throttled` once the call's share of the budget is spent; findings keep their state"),
    Case("metrics 500", (f("metrics", status=500),), ("metrics",), "error",
         what="`metrics-error`; findings keep their state"),
    Case("metrics 503", (f("metrics", status=503),), ("metrics",),
         what="`metrics-*` blind spot after bounded retries; findings keep their state"),
    Case("metrics 529", (f("metrics", status=529, retry_after=1),), ("metrics",), "throttled",
         what="throttled like a 429; findings keep their state"),
    Case("metrics hang", (f("metrics", hang=True),), ("metrics",), "timeout",
         what="read timeout, one retry, then `metrics-timeout`"),
    Case("metrics 404", (f("metrics", status=404),), ("metrics",), "not-found",
         what="`metrics-not-found`; findings keep their state"),
    Case("logs 403", (f("logs", operation="query", status=403),), ("logs",), "forbidden",
         what="`logs-forbidden` naming the workspace right; log-based findings keep firing"),
    Case("logs 500", (f("logs", operation="query", status=500),), ("logs",),
         what="`logs-*` blind spot per workspace; log-based findings keep firing"),
    Case("logs partial", (f("logs", operation="query", partial="query exceeded memory limit"),), ("logs",), "error",
         what="rows used, `logs-error` (partial result): log-based findings do not resolve on partial data"),
    Case("logs hang", (f("logs", operation="query", hang=True),), ("logs",), "timeout",
         what="`logs-timeout`; log-based findings keep firing"),
    Case("keyvault 403", (f("keyvault", status=403),), ("secrets",), "forbidden",
         what="`secrets-forbidden` naming the Key Vault role; key-drift findings keep firing"),
    Case("keyvault 503", (f("keyvault", operation="getSecret", status=503),), ("secrets",),
         what="`secrets-*` after bounded retries; key-drift findings keep firing"),
    Case("keyvault reset", (f("keyvault", operation="getSecret", reset=True),), ("secrets",), "unreachable",
         what="`secrets-unreachable`; key-drift findings keep firing"),
    Case("inventory 403", (f("arm", operation="listBySubscription", status=403),), ("inventory",), "forbidden",
         what="`inventory-forbidden`: nothing discovered, nothing resolved"),
    Case("inventory 500", (f("arm", operation="listBySubscription", status=500),), ("inventory",),
         what="`inventory-*`: nothing discovered, nothing resolved"),
    Case("activity log 403", (f("arm", operation="activityLog", status=403),), ("activity-log",), "forbidden",
         what="`activity-log-forbidden`; cached hubs and diagnostics are re-read instead"),
    Case("autoscale 403", (f("arm", operation="autoscaleBySubscription", status=403),), ("autoscale",), "forbidden",
         what="`autoscale-forbidden`; scale is not planned blind"),
    Case("skus 503", (f("arm", operation="listSkus", status=503),), ("skus",),
         what="`skus-*`; capacity findings keep their state"),
    Case("data plane 503", (f("dataplane", status=503),),
         what="the proof is unverified, never 'accepted'; key-drift findings keep their state"),
    Case("data plane reset", (f("dataplane", reset=True),),
         what="the proof is unreachable; key-drift findings keep their state"),
    Case("handler hang", (f("customer", resource=HANDLER, hang=True),),
         what="the probe times out (upstream finding); other sources unaffected"),
    Case("handler trickle", (f("customer", resource=HANDLER, trickle_bps=200),),
         what="the probe answers slowly; the sweep stays in its budget"),
    Case("target 5xx for 2 sweeps", (f("customer", resource=HOOK, status=503),), sweeps=2,
         what="bounded retries, the message stays pending, sent once when the target is back"),
    Case("target slow 2xx", (f("customer", resource=HOOK, latency_ms=1500),),
         what="delivered once (within the notification deadline)"),
    Case("target reset once", (f("customer", resource=HOOK, reset=True, times=1),),
         what="retried in the same sweep; accepted once"),
    Case("target 429 Retry-After 0", (f("customer", resource=HOOK, status=429, retry_after=0, times=2),),
         what="waits at least 1 s between attempts; accepted once"),
    Case("scale LRO Failed", (f("arm", operation="update", lro="Failed"),), mode={**OFF, "scale": "on"},
         what="the scale is recorded failed; the capacity finding keeps firing"),
    Case("scale LRO slow", (f("arm", operation="update", lro_seconds=120),), mode={**OFF, "scale": "on"},
         what="recorded in progress at the budget; the next sweep verifies it"),
    Case("secret write 403", (f("keyvault", operation="setSecret", status=403),), mode={**OFF, "secret-sync": "on"},
         what="the sync fails and is recorded; nothing written"),
    Case("secret written, proof fails", (f("dataplane", status=503),), mode={**OFF, "secret-sync": "on"},
         what="the write is recorded done with its new version, marked unverified"),
    Case("deleted mid-sweep", (f("arm", operation="listBySubscription", delete="presence-eu", times=1),),
         what="blind spots for the vanished resource, then its findings close as 'resource deleted' after a 404"),
    Case("ledger SQLite locked", ledger="sqlite-locked", blind=("ledger",),
         what="critical `ledger` blind spot; nothing sent or acted on; the timer invocation fails"),
    Case("ledger SQLite write-locked", ledger="sqlite-write-locked", blind=("ledger",),
         what="critical `ledger` blind spot; nothing sent that could not be recorded"),
    Case("ledger Table refused", ledger="table-refused", blind=("ledger",),
         what="critical `ledger` blind spot; the HTTP check answers 503 LedgerUnavailable"),
    Case("ledger Table 503", ledger="table-unavailable", blind=("ledger",),
         what="critical `ledger` blind spot after bounded retries"),
)


@dataclass
class Figures:
    sweeps: int = 0
    faults_fired: int = 0
    false_resolutions: int = 0
    lost: int = 0
    duplicates: int = 0
    longest: float = 0.0


def _accepted(emulator) -> list[dict]:  # noqa: ANN001
    return [json.loads(d.body) for d in emulator.deliveries(HOOK) if 200 <= (d.status or 0) < 300]


def _alerts(messages: list[dict]) -> list[tuple[str, str, str]]:
    """(fingerprint, notification kind, alert id = episode) of every accepted alert."""
    return [(a["data"]["essentials"]["originAlertId"], a["data"]["alertContext"]["notification"],
             a["data"]["essentials"]["alertId"]) for m in messages for a in m["alerts"]]


def _ledger_for(case: Case, request, tmp_path: Path, settings: Settings):  # noqa: ANN001, ANN202
    """The faulted sweeps' ledger, opened as the timer opens it (open_guarded), under its fault."""
    if case.ledger and case.ledger.startswith("sqlite"):
        held = sqlite_locked(tmp_path / "ledger.db", readers=case.ledger == "sqlite-write-locked")
        return held, lambda: open_guarded(replace(settings, ledger="sqlite", sqlite_path=str(tmp_path / "ledger.db")))
    connection = request.getfixturevalue(case.ledger.replace("-", "_"))
    return nullcontext(), lambda: open_guarded(replace(settings, ledger="table", storage_connection=Sensitive(connection),
                                                       ledger_table="faults"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_matrix(case: Case, emulator, monkeypatch, tmp_path, request):
    emulator.apply_env(monkeypatch)
    settings: Settings = settings_for(emulator, monkeypatch, **ENV)
    figures = Figures()
    reports = []

    def sweep(ledger: Any, mode: dict[str, str] = OFF):  # noqa: ANN202
        report = run_sweep(settings, mode=mode, ledger=ledger, notify=True)
        figures.sweeps += 1
        figures.longest = max(figures.longest, report.timings["total"])
        assert report.timings["total"] < BUDGET, f"{case.id}: sweep took {report.timings['total']} s"
        reports.append(report)
        return report

    with ExitStack() as stack:
        if case.ledger and case.ledger.startswith("table"):
            # A table prefix of its own: Azurite is shared by the worker's cases, and a ledger that
            # already told the target about the demo's findings would tell it nothing new.
            healthy = stack.enter_context(TableLedger.from_connection_string(
                Sensitive(request.getfixturevalue("azurite_table")), f"faults{uuid.uuid4().hex[:8]}"))
        else:
            healthy = stack.enter_context(SqliteLedger(tmp_path / "ledger.db", busy_seconds=1))
        first = sweep(healthy)
        told = _alerts(_accepted(emulator))
        assert told, "the healthy sweep told the target its findings"
        firing_before = {fp: s.firing_since for fp, s in healthy.finding_states().items() if s.status == "firing"}

        rules = [emulator.faults.add(**spec) for spec in case.faults]
        held, opener = _ledger_for(case, request, tmp_path, settings) if case.ledger else (nullcontext(), None)
        if case.ledger and case.ledger.startswith("sqlite"):
            healthy.close()  # another process's lock needs this connection gone; reopened after the fault
        accepted_before = len(_accepted(emulator))
        with held:
            for _ in range(case.sweeps):
                if opener is None:
                    faulted = sweep(healthy, case.mode)
                else:
                    with opener() as guarded:
                        faulted = sweep(guarded, {**OFF, "secret-sync": "on", "scale": "on"})
                        assert guarded.failure is not None, "the timer would raise LedgerUnavailable"
                    assert len(_accepted(emulator)) == accepted_before, "nothing sent that could not be recorded"
                    assert not [o for o in faulted.outcomes if o.status == "done"], "no action without a lease"
                _assert_blind(case, faulted, rules)
        figures.faults_fired = sum(r.fired for r in rules) + (case.sweeps if case.ledger else 0)
        for rule in rules:
            emulator.faults.remove(rule)
        if case.ledger and case.ledger.startswith("sqlite"):
            healthy = stack.enter_context(SqliteLedger(tmp_path / "ledger.db", busy_seconds=1))

        last = sweep(healthy)
        final = {f.fingerprint: f for f in last.findings}
        states = healthy.finding_states()
        alerts = _alerts(_accepted(emulator))

        # No finding resolved that was not observed: what is still true was never told "resolved"
        # and kept its episode (firing_since), unless the watchdog fixed it.
        fixed = {o.action.finding for r in reports for o in r.outcomes if o.status == "done" and o.verified}
        for fp, since in firing_before.items():
            if fp in final and fp not in fixed:
                wrongly = [a for a in alerts if a[0] == fp and a[1] in ("resolved", "deleted")]
                if wrongly or states[fp].firing_since != since:
                    figures.false_resolutions += 1
                    print(f"false resolution in {case.id}: {states[fp].rule}/{states[fp].check} on "
                          f"{states[fp].resource_id.rsplit('/', 1)[-1]}")
        # Deleted resources close as deleted, never as resolved.
        gone = {rid for r in reports for rid in r.deleted}
        for fp, since in firing_before.items():
            if states.get(fp) and states[fp].resource_id.lower() in gone:
                assert not [a for a in alerts if a[0] == fp and a[1] == "resolved"], "deleted, not resolved"
        # Nothing twice, nothing lost.
        figures.duplicates = sum(n - 1 for n in Counter(a for a in alerts if a[1] != "reminder").values() if n > 1)
        episodes = {(a[0], a[2]) for a in alerts if a[1] in ("firing", "reminder")}
        for fp, finding in final.items():
            episode = next((a[2] for a in alerts if a[0] == fp and a[1] in ("firing", "reminder")
                            and _episode_matches(a, states.get(fp))), None)
            if episode is None or (fp, episode) not in episodes:
                figures.lost += 1
        # No secret written without verification.
        _assert_secret_writes_verified(emulator, healthy)
        if case.id == "deleted mid-sweep":
            assert gone, "the vanished resource was confirmed deleted by a direct GET"
            assert any(a[1] == "deleted" for a in alerts)

    print(f"\nFAULT-MATRIX {json.dumps({'case': case.id, **figures.__dict__, 'budget': BUDGET})}")
    _record(case, figures)
    assert (figures.false_resolutions, figures.lost, figures.duplicates) == (0, 0, 0), figures
    assert first.findings


def _episode_matches(alert: tuple[str, str, str], state: Any) -> bool:
    import hashlib

    if state is None:
        return False
    return alert[2] == hashlib.sha256(f"{alert[0]}:{state.firing_since.isoformat()}".encode()).hexdigest()[:32]


def _assert_blind(case: Case, report: Any, rules: list) -> None:
    fired = any(r.fired for r in rules) or case.ledger
    if not fired:
        return
    blind = [x for x in report.findings if x.rule == "blind-spot"]
    for source in case.blind:
        named = [x for x in blind if x.evidence.get("source") == source]
        assert named, f"{case.id}: no blind spot names {source}: {[x.check for x in blind]}"
        if source == "ledger":
            assert all(str(x.severity) == "critical" for x in named)
        if case.kind:
            assert any(x.evidence.get("kind") == case.kind for x in named), [x.check for x in named]
        if case.kind == "forbidden":
            assert all(x.evidence.get("permission") for x in named if x.evidence.get("kind") == "forbidden")


def _assert_secret_writes_verified(emulator, ledger: Any) -> None:  # noqa: ANN001
    writes = [e for e in emulator.journal.writes() if e.op.endswith("setSecret") and 200 <= e.status < 300]
    done = [a for a in ledger.actions(limit=100) if a.kind == "secret-sync" and a.status == "done"]
    assert len(done) == len(writes), "every secret written is in the audit trail as done"
    for entry in done:
        assert entry.after.get("version") and entry.verified is not None and entry.proof, entry


def _record(case: Case, figures: Figures) -> None:
    """Appends the case's figures for the session summary (FAULT_MATRIX_FIGURES, a JSONL path)."""
    path = os.environ.get("FAULT_MATRIX_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"case": case.id, **figures.__dict__, "budget": BUDGET}) + "\n")


def markdown() -> str:
    """README's "What happens when..." table, from CASES."""
    rows = ["| when | blind spot | what the watchdog does |", "|---|---|---|"]
    for c in CASES:
        blind = ", ".join(f"`{s}`" for s in c.blind) or "-"
        rows.append(f"| {c.id} | {blind} | {c.what} |")
    return "\n".join(rows)


def test_readme_what_happens_when_table_is_the_matrix():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index("<!-- fault-matrix -->") + len("<!-- fault-matrix -->\n")
    end = readme.index("<!-- /fault-matrix -->")
    assert readme[start:end].strip() == markdown(), "README's What happens when... table differs from CASES"
    assert len(CASES) >= 25
