"""OpenTelemetry SDK providers with in-memory exporters: what the watchdog would export, held for
a test to read (spans, custom events as log records, metric points) and to search for secrets."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from watchdog.telemetry import OpenTelemetry


@dataclass
class Captured:
    telemetry: OpenTelemetry
    span_exporter: InMemorySpanExporter
    log_exporter: InMemoryLogRecordExporter
    metric_reader: InMemoryMetricReader

    def spans(self) -> list[Any]:
        return list(self.span_exporter.get_finished_spans())

    def events(self) -> list[dict[str, Any]]:
        """Custom events: {"name": ..., **attributes} each."""
        out = []
        for data in self.log_exporter.get_finished_logs():
            attrs = dict(data.log_record.attributes or {})
            out.append({"name": attrs.pop("microsoft.custom_event.name"), **attrs})
        return out

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], float]]]:
        """Metric name -> [(attributes, sum of the recorded values)]."""
        out: dict[str, list[tuple[dict[str, Any], float]]] = {}
        data = self.metric_reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[metric.name] = [(dict(p.attributes or {}), p.sum) for p in metric.data.data_points]
        return out

    def exported_text(self) -> str:
        """Everything exported, as text: span names, attributes, events, status; log bodies and
        attributes; metric points with their attributes."""
        parts = [span.to_json() for span in self.spans()]
        parts += [data.to_json() for data in self.log_exporter.get_finished_logs()]
        data = self.metric_reader.get_metrics_data()
        parts.append(data.to_json() if data else "")
        return "\n".join(parts)


def capture() -> Captured:
    spans, logs, reader = InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    telemetry = OpenTelemetry(tracer_provider, MeterProvider(metric_readers=[reader]), logger_provider)
    return Captured(telemetry, spans, logs, reader)


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
