"""What every rule shares: one constructor for findings that scrubs secrets on the way in.

Rules only put numbers and short strings in evidence, but some strings come from outside (log
samples, probe details, error messages). Scrubbing here is the last line of defence: URL query
strings (`?code=...`, SAS tokens) and `AccessKey=`/`SharedAccessKey=` values never reach a report.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from watchdog.checks.registry import Check
from watchdog.models import Finding, ResourceMetrics, Sensitive, Severity
from watchdog.models_resource import Resource
from watchdog.redact import scrub


def _clean(value: Any) -> Any:
    if isinstance(value, Sensitive):
        return "<redacted>"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def finding(
    check: Check,
    resource_id: str,
    subject: str,
    summary: str,
    evidence: Mapping[str, Any],
    *,
    guidance: str | None = None,
    severity: Severity | None = None,
    check_id: str | None = None,
) -> Finding:
    """A finding of a declared `check`: its severity and guidance unless this one differs (a
    severity the check lists in `also`, guidance naming this finding's numbers); `check_id` fills
    a check declared with a placeholder (blind-spot's `<source>-<kind>`)."""
    severity = check.severity if severity is None else severity
    if severity is not check.severity and severity not in check.also:
        raise ValueError(f"{check.rule}/{check.id} does not declare severity {severity}")
    check_id = check.id if check_id is None else check_id
    if not check.matches(check_id):
        raise ValueError(f"{check_id!r} is not an id of {check.rule}/{check.id}")
    return Finding(
        rule=check.rule,
        check=check_id,
        severity=severity,
        resource_id=resource_id,
        subject=scrub(subject),
        summary=scrub(summary),
        evidence={k: _clean(v) for k, v in evidence.items()},
        guidance=scrub(check.guidance if guidance is None else guidance),
    )


def label(resource: Resource) -> str:
    return resource.name or resource.id.rsplit("/", 1)[-1]


def pct(value: float) -> str:
    return f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.1f}%"


def series(metrics: ResourceMetrics | None, key: str) -> list[tuple[datetime, float]]:
    """Points of "MetricName:Aggregation" that carry a value; empty when the metric is missing."""
    if metrics is None:
        return []
    return [(p.time, float(p.value)) for p in metrics.series.get(key, ()) if p.value is not None]


def close_count(metrics: ResourceMetrics | None, category: str) -> float:
    """Total closes of a ConnectionCloseCategory in the window (category names compared case-blind)."""
    if metrics is None:
        return 0.0
    return sum(v for k, v in metrics.close_counts.items() if k.lower() == category.lower())
