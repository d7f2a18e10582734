"""The rule registry: every rule declares its checks once, as data, beside its pure function.

A `Check` says what a finding means before any sweep runs: its severity, a one-line title, what
collection must have observed for the verdict to stand (`needs`, so a finding resolves only when
those were seen) and which remediation kind, if any, answers it (`remedy`). `diagnose()` runs the
registered rules, `remediate.plan` asks `check()` for a finding's remedy, and the README's rule
tables are rendered from `rules()` (`python infra/scripts/render_readme.py`).

Adding a rule: a module in `watchdog/checks/` that builds its `Check`s, writes
`evaluate(obs, settings, now) -> list[Finding]` with `finding(CHECK, ...)`, and ends with
`register(Rule(...))`; list the module in `watchdog/checks/__init__.py`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Callable

from watchdog.models import Severity

if TYPE_CHECKING:
    from watchdog.models import Finding, Observation
    from watchdog.settings import Settings


class Source(StrEnum):
    """What collection provides; a check `needs` the ones its verdict is made from."""

    INVENTORY = "inventory"
    METRICS = "metrics"
    LOGS = "logs"
    KEYS = "keys"
    SECRETS = "secrets"
    PROBES = "probes"
    HUBS = "hubs"
    DIAGNOSTICS = "diagnostics"
    AUTOSCALE = "autoscale"
    CONSUMERS = "consumers"
    ALERTS = "alerts"
    SITES = "sites"
    REPLICAS = "replicas"
    KEY_AGE = "key-age"  # the activity log's last regenerateKey and the ledger's rotation record


# ObservationError.source -> the Sources it blinds. hubs feed the probes, diagnostics the log
# queries; a failed data-plane proof leaves the secret's verdict unknown.
BLINDS: dict[str, frozenset[Source]] = {
    "inventory": frozenset(Source),
    "skus": frozenset({Source.INVENTORY}),
    "metrics": frozenset({Source.METRICS}),
    "logs": frozenset({Source.LOGS}),
    "keys": frozenset({Source.KEYS}),
    "secrets": frozenset({Source.SECRETS}),
    "dataplane": frozenset({Source.SECRETS}),
    "handlers": frozenset({Source.PROBES}),
    "hubs": frozenset({Source.HUBS, Source.PROBES}),
    "diagnostics": frozenset({Source.DIAGNOSTICS, Source.LOGS}),
    "autoscale": frozenset({Source.AUTOSCALE}),
    "consumers": frozenset({Source.CONSUMERS}),
    "key-age": frozenset({Source.KEY_AGE}),
    "alerts": frozenset({Source.ALERTS}),
    "sites": frozenset({Source.SITES}),
    "replicas": frozenset({Source.REPLICAS}),
}


@dataclass(frozen=True)
class Check:
    rule: str
    id: str  # may hold a `<placeholder>` (blind-spot's `<source>-<kind>`), matched by `matches`
    severity: Severity  # the usual severity; `also` lists the others a finding of it may carry
    title: str  # when it fires, one line (the README table's "when" column)
    needs: frozenset[Source]
    remedy: str | None = None  # a remediation kind (watchdog.remediate.registry) or None
    guidance: str = ""  # what to do, when it does not depend on the finding's numbers
    also: tuple[Severity, ...] = ()

    def matches(self, check_id: str) -> bool:
        if "<" not in self.id:
            return check_id == self.id
        pattern = "[a-z0-9-]+".join(re.escape(part) for part in re.split(r"<[a-z]+>", self.id))
        return re.fullmatch(pattern, check_id) is not None


Evaluate = Callable[["Observation", "Settings", datetime], "list[Finding]"]


@dataclass(frozen=True)
class Rule:
    name: str
    checks: tuple[Check, ...]
    evaluate: Evaluate | None  # None: judged from the sweep's errors, not per observation (blind-spot)
    doc: str = ""  # the README paragraph above the rule's table

    def check(self, check_id: str) -> Check:
        for c in self.checks:
            if c.matches(check_id):
                return c
        raise KeyError(f"rule {self.name} declares no check {check_id!r}")


_RULES: dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    if rule.name in _RULES:
        raise ValueError(f"rule {rule.name} is registered twice")
    for c in rule.checks:
        if c.rule != rule.name:
            raise ValueError(f"check {c.id} says rule {c.rule}, registered under {rule.name}")
    _RULES[rule.name] = rule
    return rule


def rules() -> tuple[Rule, ...]:
    """Every registered rule, in registration order (the README's order)."""
    return tuple(_RULES.values())


def rule(name: str) -> Rule:
    try:
        return _RULES[name]
    except KeyError:
        raise KeyError(f"no rule {name!r} is registered") from None


def check(rule_name: str, check_id: str) -> Check:
    """The declared Check of a finding's (rule, check); KeyError when nothing declares it."""
    return rule(rule_name).check(check_id)


def remedy(finding: Finding) -> str | None:
    """The remediation kind that answers `finding`, as its check declares."""
    return check(finding.rule, finding.check).remedy


def _severities(c: Check) -> str:
    return " / ".join(str(s) for s in sorted({c.severity, *c.also}))


def markdown() -> str:
    """The README's rule reference: per rule its paragraph and a table of its checks, rendered by
    `python infra/scripts/render_readme.py` (a test fails when README.md differs)."""
    out: list[str] = []
    for r in rules():
        out += [f"**{r.name}**, {r.doc}", "", "| check | severity | needs | remedy | when |", "|---|---|---|---|---|"]
        for c in r.checks:
            needs = ", ".join(sorted(c.needs)) or "-"
            out.append(f"| `{c.id}` | {_severities(c)} | {needs} | {c.remedy or '-'} | {c.title.replace('|', '/')} |")
        out.append("")
    return "\n".join(out).rstrip("\n")
