"""Render a Report as text (terminal), JSON (stable, see docs/report-schema.json) or Markdown,
and map it to the process exit code a pipeline gates on.
"""
from __future__ import annotations

import enum
import json
import re
from collections import Counter
from dataclasses import fields
from datetime import datetime
from typing import Any, Mapping

from watchdog.models import Finding, Outcome, Report, Sensitive, Severity
from watchdog.models_resource import Resource

# Exit codes (documented in the README's CLI section). Info-only findings count as healthy.
EXIT_HEALTHY = 0
EXIT_WARNINGS = 1
EXIT_CRITICAL = 2
EXIT_USAGE = 3  # bad command line or HTTP parameter
EXIT_CONFIG = 4  # a setting is missing or malformed (settings.ConfigError)

SCHEMA_VERSION = "watchdog-report/1"
FORMATS = ("text", "json", "markdown")


def exit_code(report: Report) -> int:
    worst = report.worst
    if worst is Severity.CRITICAL:
        return EXIT_CRITICAL
    if worst is Severity.WARNING:
        return EXIT_WARNINGS
    return EXIT_HEALTHY


def status(report: Report) -> str:
    return {EXIT_CRITICAL: "critical", EXIT_WARNINGS: "warnings"}.get(exit_code(report), "healthy")


def render(report: Report, fmt: str, color: bool = False) -> str:
    """Dispatch on a format name from FORMATS; ValueError names the valid ones."""
    if fmt == "text":
        return render_text(report, color=color)
    if fmt == "json":
        return render_json(report)
    if fmt == "markdown":
        return render_markdown(report)
    raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


# --- JSON ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-able copy. Secrets become "<redacted>" even if a stage put one where it should not."""
    if isinstance(value, Sensitive):
        return "<redacted>"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _fields(obj: Any) -> dict[str, Any]:
    """Shallow dataclass -> dict (dataclasses.asdict deep-copies, which Sensitive refuses)."""
    return _plain({f.name: getattr(obj, f.name) for f in fields(obj)})


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "fingerprint": f.fingerprint, "rule": f.rule, "check": f.check, "severity": str(f.severity),
        "resource_id": f.resource_id, "subject": f.subject, "summary": f.summary,
        "evidence": _plain(f.evidence), "guidance": f.guidance,
    }


def _outcome(o: Outcome) -> dict[str, Any]:
    return _plain({
        "action": _fields(o.action), "status": o.status, "guard": o.guard, "reason": o.reason, "before": o.before,
        "after": o.after, "verified": o.verified, "proof": o.proof, "at": o.at,
    })


def _counts(report: Report) -> dict[str, int]:
    counts = Counter(str(f.severity) for f in report.findings)
    return {name: counts.get(name, 0) for name in ("critical", "warning", "info")}


def to_dict(report: Report) -> dict[str, Any]:
    duration = (report.finished_at - report.started_at).total_seconds() if report.finished_at else None
    return {
        "schema": SCHEMA_VERSION,
        "started_at": report.started_at.isoformat(),
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "duration_seconds": duration,
        "subscriptions": list(report.subscriptions),
        "mode": _plain(report.mode),
        "summary": {
            "status": status(report), "exit_code": exit_code(report),
            "worst": str(report.worst) if report.worst else None,
            "resources": len(report.resources), "findings": _counts(report), "errors": len(report.errors),
            "actions": dict(Counter(o.status for o in report.outcomes)),
        },
        "resources": [_fields(r) for r in report.resources],
        "findings": [_finding(f) for f in report.findings],
        "errors": [_fields(e) for e in report.errors],
        "outcomes": [_outcome(o) for o in report.outcomes],
        "notifications": [_plain(n) for n in report.notifications],
        "api_calls": dict(report.api_calls),
        "timings": dict(report.timings),
    }


def render_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, sort_keys=False)


# --- text ---------------------------------------------------------------------------------

_ANSI = {Severity.CRITICAL: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_RESET = "\033[0m"


def _names(report: Report) -> dict[str, str]:
    return {r.id.lower(): r.name for r in report.resources}


def _name(names: Mapping[str, str], resource_id: str) -> str:
    return names.get(resource_id.lower()) or resource_id.rstrip("/").rsplit("/", 1)[-1]


def _evidence_line(evidence: Mapping[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        if value is None or value == [] or value == "":
            continue
        if isinstance(value, float):
            value = f"{value:g}"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return " ".join(parts)


def _headline(report: Report) -> str:
    counts = _counts(report)
    subs = len(report.subscriptions)
    took = f", {(report.finished_at - report.started_at).total_seconds():.1f}s" if report.finished_at else ""
    return (f"{status(report).upper()} (exit {exit_code(report)}): {counts['critical']} critical, "
            f"{counts['warning']} warning, {counts['info']} info; {len(report.resources)} resource(s) in "
            f"{subs} subscription(s); {len(report.errors)} observation error(s){took}")


def _params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_plain(v)}" for k, v in params.items())


def render_text(report: Report, color: bool = False) -> str:
    names = _names(report)
    paint = (lambda sev, s: f"{_ANSI[sev]}{s}{_RESET}") if color else (lambda sev, s: s)
    lines = [f"Web PubSub watchdog report, {report.started_at:%Y-%m-%d %H:%M:%S %Z}".rstrip(), _headline(report)]
    for severity in sorted(Severity, reverse=True):
        group = [f for f in report.findings if f.severity is severity]
        if not group:
            continue
        lines += ["", paint(severity, f"{str(severity).upper()} ({len(group)})")]
        for f in group:
            subject = "" if f.subject == f.resource_id else f"  {f.subject}"
            lines.append(f"  {paint(severity, '*')} {_name(names, f.resource_id)}  {f.rule}/{f.check}{subject}")
            lines.append(f"    {f.summary}")
            if f.guidance:
                lines.append(f"    fix: {f.guidance}")
            if evidence := _evidence_line(_plain(f.evidence)):
                lines.append(f"    evidence: {evidence}")
    if not report.findings:
        lines += ["", "No findings."]
    if report.outcomes:
        lines += ["", f"ACTIONS ({len(report.outcomes)})"]
        for o in report.outcomes:
            a = o.action
            status = f"{o.status} ({o.guard})" if o.guard else o.status
            lines.append(f"  {status:<8} {a.kind} {_name(names, a.resource_id)} {a.subject} {_params(a.params)}".rstrip())
            if o.reason:
                lines.append(f"    {o.reason}")
            if o.verified is not None or o.proof:
                verdict = {True: "verified", False: "NOT verified", None: "unverified"}[o.verified]
                lines.append(f"    {verdict}{': ' + o.proof if o.proof else ''}")
    if report.notifications:
        lines += ["", f"NOTIFICATIONS ({len(report.notifications)})"]
        lines += [f"  {_notification_line(n)}" for n in report.notifications]
    if report.resources:
        lines += ["", f"RESOURCES ({len(report.resources)})"]
        lines += [f"  {line}" for line in _resource_lines(report)]
    if report.api_calls or report.timings:
        calls = ", ".join(f"{k} {v}" for k, v in sorted(report.api_calls.items()))
        timings = ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items())
        lines += ["", f"API calls: {sum(report.api_calls.values())} ({calls})" if calls else "API calls: 0"]
        if timings:
            lines.append(f"Timings: {timings}")
    return "\n".join(lines) + "\n"


def _notification_line(summary: Mapping[str, Any]) -> str:
    """One line a target: where it went, whether it was accepted, what it carried."""
    counts = ", ".join(f"{n} {kind}" for kind, n in (summary.get("counts") or {}).items() if n)
    head = f"{summary.get('target')} ({summary.get('kind')}): {summary.get('status')}"
    if summary.get("http_status"):
        head += f" HTTP {summary['http_status']}"
    return f"{head}; {counts or 'nothing due'}" + (f"; {summary['detail']}" if summary.get("status") != "delivered" else "")


def _worst_by_resource(report: Report) -> dict[str, Severity]:
    worst: dict[str, Severity] = {}
    for f in report.findings:
        key = f.resource_id.lower()
        worst[key] = max(worst.get(key, f.severity), f.severity)
    return worst


def _resource_lines(report: Report) -> list[str]:
    worst = _worst_by_resource(report)
    return [f"{r.name}  {r.sku_name} x{r.capacity}  {r.location}  {_resource_state(r, worst)}"
            for r in report.resources]


def _resource_state(resource: Resource, worst: Mapping[str, Severity]) -> str:
    severity = worst.get(resource.id.lower())
    return "ok" if severity is None or severity is Severity.INFO else str(severity)


# --- Markdown -----------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\*_\[\]<>|#])")


def _md(text: str) -> str:
    """Escape Markdown outside `code spans` (guidance quotes commands in backticks)."""
    parts = text.split("`")
    return "`".join(_MD_SPECIAL.sub(r"\\\1", p) if i % 2 == 0 else p for i, p in enumerate(parts))


def _code(text: str) -> str:
    return "`" + str(text).replace("`", "'") + "`"


def render_markdown(report: Report) -> str:
    names = _names(report)
    counts = _counts(report)
    out = [
        "# Web PubSub watchdog report", "",
        f"**{status(report)}** (exit {exit_code(report)}): {counts['critical']} critical, {counts['warning']} "
        f"warning, {counts['info']} info across {len(report.resources)} resource(s); started "
        f"{report.started_at.isoformat(timespec='seconds')}.",
    ]
    for severity in sorted(Severity, reverse=True):
        group = [f for f in report.findings if f.severity is severity]
        if not group:
            continue
        out += ["", f"## {str(severity).capitalize()} ({len(group)})", ""]
        for f in group:
            out.append(f"- **{_md(_name(names, f.resource_id))}** {_code(f.rule + '/' + f.check)}: {_md(f.summary)}")
            if f.subject != f.resource_id:
                out.append(f"  - Subject: {_code(f.subject)}")
            if f.guidance:
                out.append(f"  - Fix: {_md(f.guidance)}")
            if evidence := _evidence_line(_plain(f.evidence)):
                out.append(f"  - Evidence: {_code(evidence)}")
    if not report.findings:
        out += ["", "No findings."]
    if report.outcomes:
        out += ["", "## Actions", "", "| Status | Action | Resource | Subject | Reason |", "|---|---|---|---|---|"]
        for o in report.outcomes:
            a = o.action
            out.append(f"| {o.status} | {_md(a.kind)} {_code(_params(a.params))} | {_md(_name(names, a.resource_id))} "
                       f"| {_md(a.subject)} | {_md(o.reason or a.reason)} |")
    if report.resources:
        worst = _worst_by_resource(report)
        out += ["", "## Resources", "", "| Resource | SKU | Units | Region | State |", "|---|---|---|---|---|"]
        for r in report.resources:
            out.append(f"| {_md(r.name)} | {_md(r.sku_name)} | {r.capacity} | {_md(r.location)} "
                       f"| {_resource_state(r, worst)} |")
    if report.api_calls:
        out += ["", f"API calls: {sum(report.api_calls.values())}; errors observed: {len(report.errors)}."]
    return "\n".join(out) + "\n"

