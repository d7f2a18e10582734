"""What Application Insights would store for captured telemetry: the Azure Monitor exporter's own
conversion (span, log record, metric point -> envelope), then Microsoft's mapping of each envelope
type to its workspace table (RequestData -> AppRequests, RemoteDependencyData -> AppDependencies,
EventData -> AppEvents, MetricData -> AppMetrics), stamped with a chosen TimeGenerated. Used to plant
rows shaped like the app's in the emulator's Log Analytics for the alert and workbook queries."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope
from azure.monitor.opentelemetry.exporter.export.metrics._exporter import _convert_point_to_envelope
from azure.monitor.opentelemetry.exporter.export.trace._exporter import _convert_span_to_envelope

from tests.otel_capture import Captured

APP_INSIGHTS = ("/subscriptions/6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f/resourcegroups/rg-watchdog/providers/"
                "microsoft.insights/components/appi-watchdog")


def _ms(duration: str) -> float:
    """Application Insights' "d.hh:mm:ss.ffffff" as milliseconds."""
    days, _, rest = duration.partition(".")
    h, m, s = rest.split(":")
    return (int(days) * 86400 + int(h) * 3600 + int(m) * 60 + float(s)) * 1000


def rows(captured: Captured, at: datetime) -> dict[str, list[dict[str, Any]]]:
    """Table name -> rows, every row at `at` (a sweep's telemetry lands within seconds)."""
    out: dict[str, list[dict[str, Any]]] = {}

    def add(table: str, envelope: Any, **columns: Any) -> None:
        tags = envelope.tags or {}
        out.setdefault(table, []).append({
            "TimeGenerated": at, "OperationId": tags.get("ai.operation.id"), "ParentId": tags.get("ai.operation.parentId"),
            "AppRoleName": tags.get("ai.cloud.role"), "ItemCount": 1, "_ResourceId": APP_INSIGHTS,
            "Properties": dict(envelope.data.base_data.properties or {}), **columns})

    for span in captured.spans():
        env = _convert_span_to_envelope(span)
        data = env.data.base_data
        common = {"Name": data.name, "Id": data.id, "Success": data.success, "DurationMs": _ms(data.duration),
                  "ResultCode": getattr(data, "response_code", None) or getattr(data, "result_code", None)}
        if env.data.base_type == "RequestData":
            add("AppRequests", env, **common)
        else:
            add("AppDependencies", env, **common, DependencyType=data.type, Target=data.target)
    for log in captured.log_exporter.get_finished_logs():
        env = _convert_log_to_envelope(log)
        assert env.data.base_type == "EventData", env.data.base_type
        add("AppEvents", env, Name=env.data.base_data.name)
    data = captured.metric_reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    env = _convert_point_to_envelope(point, metric.name, rm.resource, sm.scope)
                    (p,) = env.data.base_data.metrics
                    add("AppMetrics", env, Name=p.name, Sum=p.value, ItemCount=p.count, Min=p.min, Max=p.max)
    return out


def shifted(tables: dict[str, list[dict[str, Any]]], by: timedelta) -> dict[str, list[dict[str, Any]]]:
    return {t: [{**r, "TimeGenerated": r["TimeGenerated"] + by} for r in rs] for t, rs in tables.items()}
