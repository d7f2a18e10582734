"""The watchdog's own telemetry, to Application Insights through OpenTelemetry.

Off (a no-op, nothing imported) unless APPLICATIONINSIGHTS_CONNECTION_STRING is set; then the
Azure Monitor OpenTelemetry distro exports, authenticated with the app's identity (Entra ID), so
the connection string's key is never what lets telemetry in. Per sweep:

- a span `watchdog.sweep` (kind consumer: an `AppRequests` row, Success false if the sweep
  raised; `watchdog.trigger` timer or on-demand) with one child span per stage (`watchdog.stage.<name>`: `AppDependencies`, type InProc);
- a custom event (`AppEvents`) per finding state change (`WatchdogFindingChanged`) and per action
  outcome (`WatchdogAction`): ids, rule, check, severity, resource id, status; never evidence,
  summaries or parameters, where text from the estate could carry a secret;
- metrics (`AppMetrics`): the report's duration, resources, findings by severity and rule, API calls
  and throttled answers by service, blind spots.

The KQL for each is in the README ("Telemetry"); infra/app/monitoring.bicep alerts on the sweep rows.
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator, Mapping

from watchdog.models import Report

ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
SWEEP_SPAN = "watchdog.sweep"
STAGE_SPAN = "watchdog.stage."
FINDING_EVENT = "WatchdogFindingChanged"
ACTION_EVENT = "WatchdogAction"
BLIND_SPOT = "blind-spot"
# Metric name -> (unit, description). Each is recorded once per sweep.
METRICS = {
    "watchdog.sweep.duration": ("s", "Sweep duration"),
    "watchdog.sweep.resources": ("{resource}", "Resources swept"),
    "watchdog.sweep.findings": ("{finding}", "Findings, by severity and rule"),
    "watchdog.sweep.api_calls": ("{call}", "Azure API calls, by service"),
    "watchdog.sweep.throttled": ("{call}", "Throttled answers (429/529, then retried), by service"),
    "watchdog.sweep.blind_spots": ("{finding}", "Blind-spot findings"),
}
# The distro's auto-instrumentations stay off: HTTP spans would carry URLs (a Teams URL's `sig=`,
# a handler's `?code=`), and the host already reports the Functions requests.
_INSTRUMENTATIONS = ("azure_sdk", "django", "fastapi", "flask", "psycopg2", "requests", "urllib", "urllib3")
# Only this logger's records are exported (the custom events): the Functions host already
# forwards the app's own log lines to AppTraces.
EVENT_LOGGER = "watchdog.telemetry"


class Telemetry:
    """Off: every hook does nothing."""

    enabled = False

    @contextmanager
    def sweep(self, trigger: str = "on-demand") -> Iterator[None]:
        yield

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield

    def finding_changed(self, change: Mapping[str, Any]) -> None:
        pass

    def record(self, report: Report) -> None:
        pass

    def flush(self) -> None:
        pass


class OpenTelemetry(Telemetry):
    """Spans, events and metrics through OpenTelemetry providers: the global ones the distro set
    up, or a test's (with in-memory exporters)."""

    enabled = True

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None, logger_provider: Any = None) -> None:
        from opentelemetry import _logs, metrics, trace

        self.providers = (tracer_provider or trace.get_tracer_provider(), meter_provider or metrics.get_meter_provider(),
                          logger_provider or _logs.get_logger_provider())
        self.tracer = trace.get_tracer("watchdog", tracer_provider=self.providers[0])
        self.logger = self.providers[2].get_logger(EVENT_LOGGER)
        meter = metrics.get_meter("watchdog", meter_provider=self.providers[1])
        self.instruments = {name: meter.create_histogram(name, unit=unit, description=text)
                            for name, (unit, text) in METRICS.items()}

    @contextmanager
    def sweep(self, trigger: str = "on-demand") -> Iterator[None]:
        """The sweep's span; inside one already open (the timer opens it before loading settings,
        so a configuration error is a failed sweep too), the same span. `trigger`: "timer" for the
        scheduled sweeps the dead man's switch counts; the HTTP check and the CLI are on demand."""
        from opentelemetry.trace import SpanKind

        if _ACTIVE.get() is self:
            yield
            return
        with self.tracer.start_as_current_span(SWEEP_SPAN, kind=SpanKind.CONSUMER,
                                               attributes={"watchdog.trigger": trigger}):
            token = _ACTIVE.set(self)
            try:
                yield
            finally:
                _ACTIVE.reset(token)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        with self.tracer.start_as_current_span(STAGE_SPAN + name, attributes={"watchdog.stage": name}):
            yield

    def _event(self, name: str, attributes: Mapping[str, Any]) -> None:
        clean = {k: str(v) for k, v in attributes.items() if v is not None}
        self.logger.emit(body=name, attributes={"microsoft.custom_event.name": name, **clean})

    def finding_changed(self, change: Mapping[str, Any]) -> None:
        self._event(FINDING_EVENT, change)

    def record(self, report: Report) -> None:
        from opentelemetry import trace

        trace.get_current_span().set_attributes({
            "watchdog.resources": len(report.resources), "watchdog.findings": len(report.findings),
            "watchdog.errors": len(report.errors), "watchdog.subscriptions": len(report.subscriptions)})
        for o in report.outcomes:
            self._event(ACTION_EVENT, {"kind": o.action.kind, "status": str(o.status), "finding": o.action.finding,
                                       "resource_id": o.action.resource_id, "guard": o.guard,
                                       "verified": o.verified})
        for name, values in sweep_metrics(report).items():
            for attributes, value in values:
                self.instruments[name].record(value, attributes=dict(attributes))


    def flush(self) -> None:
        """Export what is batched now: a Functions instance can be frozen or recycled between
        timer runs, before the exporters' own intervals (a minute for metrics) come round."""
        for provider in self.providers:
            force_flush = getattr(provider, "force_flush", None)
            if force_flush is not None:
                force_flush(10_000)


def sweep_metrics(report: Report) -> dict[str, list[tuple[tuple[tuple[str, str], ...], float]]]:
    """Metric name -> [(attributes, value)], from the report alone (so they equal its numbers)."""
    findings = Counter((str(f.severity), f.rule) for f in report.findings)
    return {
        "watchdog.sweep.duration": [((), report.timings.get("total", 0.0))],
        "watchdog.sweep.resources": [((), len(report.resources))],
        "watchdog.sweep.findings": [((("severity", s), ("rule", r)), n) for (s, r), n in sorted(findings.items())],
        "watchdog.sweep.api_calls": [((("service", k),), n) for k, n in sorted(report.api_calls.items())],
        "watchdog.sweep.throttled": [((("service", k),), n) for k, n in sorted(report.throttled.items())],
        "watchdog.sweep.blind_spots": [((), sum(f.rule == BLIND_SPOT for f in report.findings))],
    }


def finding_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One change per fingerprint whose FindingState status the sweep changed (or created)."""
    changes = []
    for fp, state in sorted(after.items()):
        previous = before.get(fp)
        if previous is not None and previous.status == state.status:
            continue
        changes.append({"fingerprint": fp, "rule": state.rule, "check": state.check,
                        "severity": str(state.severity), "resource_id": state.resource_id,
                        "status": state.status, "previous": previous.status if previous else "new"})
    return changes


_ACTIVE: ContextVar[Telemetry] = ContextVar("watchdog_telemetry", default=Telemetry())
_LOCK = threading.Lock()
_PROCESS: Telemetry | None = None


def active() -> Telemetry:
    """The telemetry of the sweep running in this context (the stage timer's seam)."""
    return _ACTIVE.get()


def current(env: Mapping[str, str] | None = None) -> Telemetry:
    """The process's telemetry: configured once, on first use, if the connection string is set."""
    global _PROCESS
    with _LOCK:
        if _PROCESS is None:
            _PROCESS = configure(env if env is not None else os.environ)
        return _PROCESS


def configure(env: Mapping[str, str]) -> Telemetry:
    connection_string = env.get(ENV, "").strip()
    if not connection_string:
        return Telemetry()
    from azure.identity import DefaultAzureCredential
    from azure.monitor.opentelemetry import configure_azure_monitor

    # The same identity as the sweep's Azure calls (watchdog/azure.py): in Azure, the app's managed
    # identity (AZURE_CLIENT_ID names a user-assigned one); the resource's local auth can be off.
    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    configure_azure_monitor(connection_string=connection_string, credential=credential, logger_name=EVENT_LOGGER,
                            enable_live_metrics=False, enable_performance_counters=False,
                            instrumentation_options={name: {"enabled": False} for name in _INSTRUMENTATIONS})
    return OpenTelemetry()
