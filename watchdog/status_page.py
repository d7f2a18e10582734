"""The status page: one self-contained HTML document over a Report, for people with a browser.

Everything a resource's owner or an attacker can write (names, tags, handler URLs, summaries) is
scrubbed of secrets and HTML-escaped on the way out, in `_e`. The page loads nothing: its style and
its optional script are inline and allowed by hash in CONTENT_SECURITY_POLICY, so the HTTP
function can serve it with `default-src 'none'`. Without script it reads the same, critical rows
first, and the severity filter still works (CSS :has over radio buttons); the script only adds
column sorting and a name filter.
"""
from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

from watchdog.checks import capacity, tiers
from watchdog.checks._common import series
from watchdog.checks.capacity import CONNECTIONS, QUOTA
from watchdog.links import status_link
from watchdog.models import Finding, HandlerProbe, Observation, Report, Severity
from watchdog.models_resource import EventHandler, Resource
from watchdog.redact import scrub
from watchdog.report import status

_HERE = Path(__file__).parent
_CSS = (_HERE / "status_page.css").read_text(encoding="utf-8")
_JS = (_HERE / "status_page.js").read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


_POLICY = f"default-src 'none'; style-src {_sha256(_CSS)}; script-src {_sha256(_JS)}; base-uri 'none'; form-action 'none'"
# The response header; the page repeats it in a <meta> (which cannot carry frame-ancestors) so a
# saved copy opened from disk is held to the same policy.
CONTENT_SECURITY_POLICY = f"{_POLICY}; frame-ancestors 'none'"
# Preselected severity filter: the least severity a row must have to show. None shows every row.
FILTERS = ("critical", "warning", "info")
KEY_DRIFT, BLIND_SPOT = "key-drift", "blind-spot"
# Meter colours where no capacity finding carries the resource's own thresholds: the settings' defaults.
_DEFAULT_WARN, _DEFAULT_CRIT = (int(next(s.default for s in capacity.SETTINGS if s.name == name) or 0)
                                for name in ("WATCHDOG_CAPACITY_WARN_PCT", "WATCHDOG_CAPACITY_CRIT_PCT"))


def _e(value: object) -> str:
    """The one way text reaches the page: secrets scrubbed, then escaped for text and attributes."""
    return html.escape(scrub(str(value)), quote=True)


@dataclass(frozen=True)
class _Row:
    resource: Resource
    findings: tuple[Finding, ...]
    observation: Observation | None

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    @property
    def state(self) -> str:
        """critical, warning or ok: info findings ("not judged") do not make a resource unhealthy."""
        worst = self.worst
        return str(worst) if worst and worst >= Severity.WARNING else "ok"

    def utilisation(self) -> tuple[float | None, float | None, int | None]:
        """(utilisation %, peak connections, cap), as the capacity rule judges it."""
        metrics = self.observation.metrics if self.observation else None
        peak = max((v for _, v in series(metrics, CONNECTIONS)), default=None)
        quota = max((v for _, v in series(metrics, QUOTA)), default=None)
        cap = tiers.connection_cap(self.resource)
        conn_pct = peak * 100 / cap if peak is not None and cap else None
        candidates = [p for p in (conn_pct, quota) if p is not None]
        return (max(candidates) if candidates else None), peak, cap


def _rows(report: Report) -> list[_Row]:
    by_resource: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_resource.setdefault(f.resource_id.lower(), []).append(f)
    observations = {o.resource.id.lower(): o for o in report.observations}
    rows = [_Row(r, tuple(sorted(by_resource.get(r.id.lower(), ()), key=lambda f: -f.severity)),
                 observations.get(r.id.lower())) for r in report.resources]
    # Critical first, then warning; within a state the fullest resource first, then by name.
    return sorted(rows, key=lambda row: (-(row.worst or 0) if row.state != "ok" else 0,
                                         -(row.utilisation()[0] or -1), row.resource.name.lower()))


def _badge(kind: str, text: str | None = None) -> str:
    return f'<span class="badge b-{_e(kind)}">{_e(text or kind)}</span>'


def _cell(label: str, content: str, key: object | None = None, css: str = "") -> str:
    key_attr = f' data-key="{_e(key)}"' if key is not None else ""
    css_attr = f' class="{css}"' if css else ""
    # One child, so the phone layout's label/value grid has exactly two columns to place.
    return f'<td role="cell" data-label="{_e(label)}"{key_attr}{css_attr}><div>{content}</div></td>'


def _resource_cell(row: _Row, base_url: str | None) -> str:
    r = row.resource
    name = _e(r.name)
    if base_url:
        # Our own URL (a setting refused with a query string, plus our parameters): escaped, not scrubbed.
        name = f'<a href="{html.escape(status_link(base_url, r.name))}">{name}</a>'
    tags = " ".join(f"<code>{_e(k)}={_e(v)}</code>" for k, v in sorted(r.tags.items()))
    return (f'<div class="name">{name}</div><div class="sub">{_e(r.resource_group)} · {_e(r.location)}</div>'
            + (f'<div class="tags">{tags}</div>' if tags else ""))


def _thresholds(row: _Row) -> tuple[float, float]:
    for f in row.findings:
        if f.rule == "capacity" and "warn_pct" in f.evidence and "crit_pct" in f.evidence:
            return float(f.evidence["warn_pct"]), float(f.evidence["crit_pct"])
    return _DEFAULT_WARN, _DEFAULT_CRIT


def _utilisation_cell(row: _Row) -> str:
    util, peak, cap = row.utilisation()
    if util is None:
        return _cell("Connections", '<span class="none">no data</span>', -1)
    warn, crit = _thresholds(row)
    figures = f"{peak:,.0f} of {cap:,}" if peak is not None and cap else "quota"
    text = f"{util:.0f}% ({figures})"
    meter = (f'<meter min="0" max="100" low="{warn:g}" high="{crit:g}" optimum="0" value="{min(util, 100):.1f}" '
             f'aria-label="connection utilisation {_e(text)}">{_e(text)}</meter>')
    return _cell("Connections", f'{meter}<span class="num" aria-hidden="true">{_e(text)}</span>', f"{util:.1f}")


def _key_state(row: _Row) -> tuple[str, str]:
    """(badge kind, text) for the resource's keys and the secrets that hold them."""
    drift = [f for f in row.findings if f.rule == KEY_DRIFT]
    if drift:
        worst = max(drift, key=lambda f: f.severity)
        return ("critical" if worst.severity is Severity.CRITICAL else "warning"), worst.check
    obs = row.observation
    if obs is None or not obs.secrets:
        return "info", "local auth off" if row.resource.disable_local_auth else "no bound secret"
    if obs.keys is None:
        return "info", "keys not read"
    return "ok", f"in sync ({len(obs.secrets)} secret{'s' if len(obs.secrets) > 1 else ''})"


def _probe_badge(probe: HandlerProbe | None) -> str:
    if probe is None:
        return _badge("info", "not probed")
    return _badge("ok") if probe.ok else _badge("critical", probe.cause or "failed")


def _handlers_cell(row: _Row) -> str:
    obs = row.observation
    handlers: Sequence[EventHandler] = obs.handlers if obs else ()
    if not handlers:
        return _cell("Handlers", '<span class="none">none</span>', 0)
    probes = {(p.handler.hub, p.handler.url_redacted): p for p in obs.probes} if obs else {}
    items = "".join(
        f"<li>{_e(h.hub)}: {_e(h.url_redacted.split('?', 1)[0])} {_probe_badge(probes.get((h.hub, h.url_redacted)))}</li>"
        for h in handlers)
    return _cell("Handlers", f'<ul class="handlers">{items}</ul>', len(handlers))


def _finding_item(f: Finding) -> str:
    guidance = (f'<details><summary>How to fix</summary><p class="guidance">{_e(f.guidance)}</p></details>'
                if f.guidance else "")
    return (f"<li>{_badge(str(f.severity))} <strong>{_e(f.rule)}/{_e(f.check)}</strong>: "
            f"{_e(f.summary)}{guidance}</li>")


def _findings_list(findings: Sequence[Finding]) -> str:
    """Warnings and worse in full; info findings folded away (they say "not judged", not "broken")."""
    loud = "".join(_finding_item(f) for f in findings if f.severity > Severity.INFO)
    quiet = [f for f in findings if f.severity is Severity.INFO]
    if not loud and not quiet:
        return '<span class="none">none</span>'
    folded = (f'<details class="info"><summary>{len(quiet)} info</summary><ul class="findings">'
              f'{"".join(_finding_item(f) for f in quiet)}</ul></details>' if quiet else "")
    return (f'<ul class="findings">{loud}</ul>' if loud else "") + folded


def _row_html(row: _Row, base_url: str | None) -> str:
    r = row.resource
    state_rank = {"critical": 3, "warning": 2, "ok": 1}[row.state]
    key_kind, key_text = _key_state(row)
    cells = [
        _cell("State", _badge(row.state), state_rank),
        _cell("Resource", _resource_cell(row, base_url), r.name.lower(), "resource-cell"),
        _cell("Tier", _e(r.sku_name), r.sku_name.lower()),
        _cell("Units", _e(r.capacity), r.capacity, "num"),
        _utilisation_cell(row),
        _cell("Keys", _badge(key_kind, key_text), key_text),
        _handlers_cell(row),
        _cell("Open findings", _findings_list(row.findings), len(row.findings), "findings-cell"),
    ]
    return (f'<tr role="row" class="sev-{row.state}" data-name="{_e(r.name.lower())}">'
            f'{"".join(cells)}</tr>')


_COLUMNS = (("State", "number"), ("Resource", "text"), ("Tier", "text"), ("Units", "number"),
            ("Connections", "number"), ("Keys", "text"), ("Handlers", "number"), ("Open findings", "number"))


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _facts(report: Report, generated_at: datetime) -> str:
    ended = report.finished_at or report.started_at
    took = f", took {(report.finished_at - report.started_at).total_seconds():.1f} s" if report.finished_at else ""
    counts = {s: sum(1 for f in report.findings if f.severity is s) for s in Severity}
    facts = {
        "Status": _badge({"warnings": "warning", "healthy": "ok"}.get(status(report), status(report)), status(report)),
        "Latest sweep": f'<time datetime="{_e(ended.isoformat())}">{_e(f"{ended:%Y-%m-%d %H:%M:%S %Z}".strip())}</time>'
                        f" ({_e(_age(max((generated_at - ended).total_seconds(), 0)))}{_e(took)})",
        "Resources": f"{len(report.resources)} in {len(report.subscriptions)} subscription(s)",
        "Findings": f"{counts[Severity.CRITICAL]} critical, {counts[Severity.WARNING]} warning, {counts[Severity.INFO]} info",
        "Blind spots": str(sum(1 for f in report.findings if f.rule == BLIND_SPOT)),
    }
    return '<dl class="facts">' + "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts.items()) + "</dl>"


def _controls(selected: str | None) -> str:
    options = (("all", "All"), ("warning", "Warning or worse"), ("critical", "Critical only"))
    chosen = {"critical": "critical", "warning": "warning"}.get(selected or "", "all")
    radios = "".join(
        f'<label><input type="radio" name="show" id="show-{value}" value="{value}"'
        f'{" checked" if value == chosen else ""}> {text}</label>' for value, text in options)
    return (f'<div class="controls"><fieldset><legend>Show</legend>{radios}</fieldset>'
            '<p hidden><label for="name-filter">Filter by name </label>'
            '<input type="search" id="name-filter" autocomplete="off"></p></div>')


def _blind_spots(report: Report) -> str:
    spots = [f for f in report.findings if f.rule == BLIND_SPOT]
    body = (f'<ul class="findings">{"".join(_finding_item(f) for f in sorted(spots, key=lambda f: -f.severity))}</ul>'
            if spots
            else '<p class="none">None: every call the checks need was answered.</p>')
    return f'<section aria-labelledby="blind-h"><h2 id="blind-h">Blind spots ({len(spots)})</h2>{body}</section>'


def render_status_page(report: Report, *, generated_at: datetime, base_url: str | None = None,
                       filter: str | None = None) -> str:  # noqa: A002 (the query parameter's name)
    """The page as a string. `filter` preselects the least severity shown (FILTERS); `base_url`
    makes each resource's name a link to its own page."""
    if filter is not None and filter not in FILTERS:
        raise ValueError(f"unknown filter {filter!r}: use one of {', '.join(FILTERS)}")
    sorted_by = ' aria-sort="descending"'
    heads = "".join(
        f'<th scope="col" role="columnheader" data-sort="{kind}"{sorted_by if name == "State" else ""}>{name}</th>'
        for name, kind in _COLUMNS)
    rows = "".join(_row_html(row, base_url) for row in _rows(report))
    if not rows:
        rows = f'<tr role="row"><td role="cell" colspan="{len(_COLUMNS)}">No Web PubSub resources in scope.</td></tr>'
    title = f"Web PubSub watchdog: {status(report)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        '<a class="skip" href="#resources-h">Skip to resources</a>'
        f'<header><h1>Web PubSub watchdog status</h1>{_facts(report, generated_at)}</header>'
        '<main>'
        f'<section aria-labelledby="resources-h"><h2 id="resources-h">Resources ({len(report.resources)})</h2>'
        f"{_controls(filter)}"
        '<table id="resources" role="table"><caption>Critical first, then warning, then healthy; '
        'fullest first within each.</caption>'
        f'<thead role="rowgroup"><tr role="row">{heads}</tr></thead><tbody role="rowgroup">{rows}</tbody></table>'
        f"</section>{_blind_spots(report)}</main>"
        f'<footer>Generated <time datetime="{_e(generated_at.isoformat())}">'
        f'{_e(f"{generated_at:%Y-%m-%d %H:%M:%S %Z}".strip())}</time> by the Web PubSub watchdog.</footer>'
        f"<script>{_JS}</script></body></html>\n"
    )
