"""What every rule shares: one constructor for findings that scrubs secrets on the way in.

Rules only put numbers and short strings in evidence, but some strings come from outside (log
samples, probe details, error messages). Scrubbing here is the last line of defence: URL query
strings (`?code=...`, SAS tokens) and `AccessKey=`/`SharedAccessKey=` values never reach a report.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

from watchdog.models import Finding, Resource, ResourceMetrics, Sensitive, Severity

_QUERY = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]*", re.I)
_KEY_VALUE = re.compile(r"\b((?:Shared)?AccessKey|Signature|sig|code)\s*=\s*[^;&\s\"']+", re.I)
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]+", re.I)



def scrub(text: str) -> str:
    text = _QUERY.sub(r"\1?<redacted>", text)
    text = _KEY_VALUE.sub(r"\1=<redacted>", text)
    return _BEARER.sub("Bearer <redacted>", text)


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
    rule: str,
    check: str,
    severity: Severity,
    resource_id: str,
    subject: str,
    summary: str,
    guidance: str,
    evidence: Mapping[str, Any],
) -> Finding:
    return Finding(
        rule=rule,
        check=check,
        severity=severity,
        resource_id=resource_id,
        subject=scrub(subject),
        summary=scrub(summary),
        evidence={k: _clean(v) for k, v in evidence.items()},
        guidance=scrub(guidance),
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
