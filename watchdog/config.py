"""Configuration primitives: the `Setting` row a feature declares, `ConfigError`, and the parsers.

A leaf module: it imports nothing of the watchdog, so every feature (rules, remediations,
notifiers, the ledger) can declare its own rows here without importing the others. The rows
are gathered in `watchdog.settings.SETTINGS` (the README's configuration reference) and parsed by
`watchdog.settings.load(env)`. Every error names the setting and says how to fix it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

MODES = ("off", "plan", "on")
PLACEHOLDER = "<NAME>"  # in a Setting name: one setting per notification target


class ConfigError(ValueError):
    """A setting is missing or malformed. The message names it and the fix."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # None = required (or derived, see description)
    description: str

    def matches(self, name: str) -> bool:
        """True if `name` is this setting; a `<NAME>` placeholder (per notification target,
        e.g. WATCHDOG_NOTIFY_<NAME>_URL) stands for an upper-case target name."""
        if PLACEHOLDER not in self.name:
            return name == self.name
        pattern = re.escape(self.name).replace(re.escape(PLACEHOLDER), "[A-Z][A-Z0-9_]*")
        return re.fullmatch(pattern, name) is not None


class Rows:
    """Declared rows by name: values fall back to the row's default; an undeclared name is a bug."""

    def __init__(self, rows: Iterable[Setting]) -> None:
        self._rows = {s.name: s for s in rows}

    def get(self, env: Mapping[str, str], name: str) -> str:
        spec = self._rows.get(name)
        assert spec is not None, f"setting {name} is not declared"
        value = env.get(name)
        if value is None or value.strip() == "":
            return spec.default or ""
        return value.strip()

    def int(self, env: Mapping[str, str], name: str, lo: int, hi: int) -> int:
        raw = self.get(env, name)
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number; set it to a number from {lo} to {hi}") from None
        if not lo <= value <= hi:
            raise ConfigError(f"{name}={value} is out of range; set it to a number from {lo} to {hi}")
        return value

    def mode(self, env: Mapping[str, str], name: str) -> str:
        raw = self.get(env, name).lower()
        if raw not in MODES:
            raise ConfigError(f"{name}={raw!r} is not a mode; set it to off, plan or on")
        return raw


def csv(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def markdown_table(rows: Iterable[Setting]) -> str:
    """The README's configuration reference: one row per Setting, in the order given."""
    out = ["| Setting | Default | Meaning |", "|---|---|---|"]
    for s in rows:
        if s.default is None:
            default = "(required)" if PLACEHOLDER not in s.name else "(required per target)"
        elif s.default == "":
            default = "(empty)"
        else:
            default = f"`{s.default}`"
        out.append(f"| `{s.name}` | {default} | {s.description.replace('|', '&#124;')} |")
    return "\n".join(out)
