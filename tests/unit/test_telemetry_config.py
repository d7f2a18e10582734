"""How telemetry is configured: off without a connection string; with one, the distro gets an
Entra credential (never the key alone), exports only the watchdog's events logger, and keeps the
HTTP auto-instrumentations (whose spans would carry URLs with `sig=`/`?code=`) off."""
from __future__ import annotations

import azure.monitor.opentelemetry as distro
from azure.core.credentials import TokenCredential

from watchdog import telemetry


def test_configured_with_entra_and_no_http_instrumentation(monkeypatch):
    seen = {}
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: seen.update(kw))
    result = telemetry.configure({telemetry.ENV: "InstrumentationKey=00000000-0000-0000-0000-000000000000"})
    assert result.enabled
    assert isinstance(seen["credential"], TokenCredential)
    assert seen["logger_name"] == telemetry.EVENT_LOGGER
    options = seen["instrumentation_options"]
    assert all(options[name] == {"enabled": False} for name in ("requests", "urllib", "urllib3", "azure_sdk"))


def test_off_without_a_connection_string(monkeypatch):
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: (_ for _ in ()).throw(AssertionError(kw)))
    assert telemetry.configure({}).enabled is False


def test_flush_exports_what_is_batched():
    """The timer flushes after each sweep: batched spans, events and metrics leave before the
    instance may be frozen."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, InMemoryLogRecordExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    tracer_provider, logger_provider = TracerProvider(), LoggerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(spans, schedule_delay_millis=3_600_000))
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(logs, schedule_delay_millis=3_600_000))
    tel = telemetry.OpenTelemetry(tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()]),
                                  logger_provider)
    with tel.sweep(trigger="timer"):
        tel.finding_changed({"fingerprint": "f", "status": "firing"})
    assert spans.get_finished_spans() == () and logs.get_finished_logs() == ()
    tel.flush()
    assert [s.name for s in spans.get_finished_spans()] == [telemetry.SWEEP_SPAN]
    assert len(logs.get_finished_logs()) == 1
