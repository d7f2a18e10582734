"""Canaries: no key, connection string or event-handler query secret anywhere a sweep writes.

A full sweep of the demo that acts (secret sync writes a connection string, scaling runs) and
notifies, with every logger at DEBUG; then every log line, every report format, the ledger file
and every payload the customer's hosts received are searched for every key the emulated estate
has or had, and for the handler URLs' query secrets. The telemetry it exports (spans, custom
events, metrics; captured with OpenTelemetry's in-memory exporters) is searched too.
"""
from __future__ import annotations

import logging
from pathlib import Path

from tests.integration.sweep_helpers import settings_for
from tests.otel_capture import capture
from watchdog import report as report_mod
from watchdog.ledger.sqlite import SqliteLedger
from watchdog.sweep import run_sweep

TEAMS = "prod-27.westeurope.logic.azure.com"
WEBHOOK = "hooks.contoso.com"
QUERY_SECRETS = ("demo-function-key", "demo-signature", "sig=s3cret-teams")


def canaries(emulator) -> set[str]:  # noqa: ANN001
    found = set(QUERY_SECRETS)
    for res in emulator.world.resources.values():
        for which in ("primary", "secondary"):
            found |= {res.key(which), res.stale_key(which), res.connection_string(which)}
    return found


def test_a_remediating_notifying_sweep_leaks_no_secret(emulator, monkeypatch, tmp_path: Path, caplog) -> None:
    settings = settings_for(
        emulator, monkeypatch,
        WATCHDOG_NOTIFY_TARGETS="teams,ops", WATCHDOG_NOTIFY_TEAMS_KIND="teams",
        WATCHDOG_NOTIFY_TEAMS_URL=f"https://{TEAMS}/workflows/w/triggers/manual/paths/invoke?sig=s3cret-teams",
        WATCHDOG_NOTIFY_OPS_KIND="webhook", WATCHDOG_NOTIFY_OPS_URL=f"https://{WEBHOOK}/hook",
        WATCHDOG_NOTIFY_OPS_SECRET="hmac-canary-secret")
    ledger_path = tmp_path / "ledger.sqlite3"
    ledger = SqliteLedger(str(ledger_path))
    caplog.set_level(logging.DEBUG)
    captured = capture()
    try:
        report = run_sweep(settings, mode={"secret-sync": "on", "scale": "on", "scale-in": "off"},
                           ledger=ledger, notify=True, telemetry=captured.telemetry)
    finally:
        ledger.close()

    # The sweep really handled secrets: it wrote a connection string and proved it.
    assert any(o.action.kind == "secret-sync" and o.status == "done" and o.verified for o in report.outcomes)
    assert emulator.deliveries(TEAMS) and emulator.deliveries(WEBHOOK)

    places = {
        "log": "\n".join(r.getMessage() for r in caplog.records),
        **{f"report:{fmt}": report_mod.render(report, fmt) for fmt in report_mod.FORMATS},
        "ledger": ledger_path.read_bytes().decode("utf-8", "replace"),
        "telemetry": captured.exported_text(),
        # What the watchdog put in each message (the target's own URL, sig= included, is how it is reached).
        **{f"delivery:{host}": "\n".join(f"{d.headers}\n{d.body.decode()}" for d in emulator.deliveries(host))
           for host in (TEAMS, WEBHOOK)},
    }
    assert len(places["log"]) > 1000  # DEBUG logging really ran
    # Telemetry really ran: state-change and action events, metrics, the sweep's spans.
    assert all(f'"{name}"' in places["telemetry"] for name in (
        "WatchdogFindingChanged", "WatchdogAction", "watchdog.sweep.api_calls", "watchdog.stage.notify"))
    leaks = sorted({(where, canary[:6] + "...") for where, text in places.items() for canary in canaries(emulator)
                    if canary in text} | {(where, "hmac") for where, text in places.items()
                                          if "hmac-canary-secret" in text}
                   | {(where, marker) for marker in ("sig=", "?code=", "code=", "AccessKey=")
                      if marker in places["telemetry"] for where in ["telemetry"]})
    assert leaks == []


STORAGE_KEY = "c3RvcmFnZS1jYW5hcnkta2V5LWRvLW5vdC1sZWFr"


def test_repr_and_tracebacks_with_locals_carry_no_secret(emulator, monkeypatch, tmp_path: Path) -> None:
    """Settings, notification targets, clients and ledgers as a crash report shows them: `repr`, and
    a traceback rendered with every frame's locals."""
    import traceback

    from watchdog.azure import AzureClients
    from watchdog.ledger import open_ledger
    from watchdog.settings import load

    settings_for(
        emulator, monkeypatch,
        AzureWebJobsStorage=f"DefaultEndpointsProtocol=https;AccountName=wd;AccountKey={STORAGE_KEY};"
                            "EndpointSuffix=core.windows.net",
        WATCHDOG_LEDGER="sqlite", WATCHDOG_SQLITE_PATH=str(tmp_path / "ledger.sqlite3"),
        WATCHDOG_NOTIFY_TARGETS="teams,ops", WATCHDOG_NOTIFY_TEAMS_KIND="teams",
        WATCHDOG_NOTIFY_TEAMS_URL=f"https://{TEAMS}/workflows/w/triggers/manual/paths/invoke?sig=s3cret-teams",
        WATCHDOG_NOTIFY_OPS_KIND="webhook", WATCHDOG_NOTIFY_OPS_URL=f"https://{WEBHOOK}/hook",
        WATCHDOG_NOTIFY_OPS_SECRET="hmac-canary-secret")
    settings, notify = load()
    assert settings.storage_connection is not None and STORAGE_KEY in settings.storage_connection.reveal()

    def crash(settings, notify, clients, ledger) -> None:  # noqa: ANN001 - locals a crash report renders
        raise RuntimeError("forced")

    with AzureClients(settings) as clients, open_ledger(settings) as ledger:
        shown = {"settings": repr(settings), "notify": repr(notify), "clients": repr(clients), "ledger": repr(ledger)}
        try:
            crash(settings, notify, clients, ledger)
        except RuntimeError as exc:
            shown["traceback"] = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    assert "storage_connection=Sensitive(<redacted>)" in shown["settings"]
    assert "settings = Settings(" in shown["traceback"]  # the locals really were rendered
    secrets = (STORAGE_KEY, "s3cret-teams", "hmac-canary-secret", *canaries(emulator))
    leaks = sorted({(where, secret[:6] + "...") for where, text in shown.items() for secret in secrets if secret in text})
    assert leaks == []
