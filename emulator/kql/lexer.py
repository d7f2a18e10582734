"""Tokens of the KQL subset: identifiers, string/number/timespan literals, operators.

`5m`, `1h`, `30s`, `1d`, `100ms` are timespan literals, as in KQL; `@'...'` is a verbatim string.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from .errors import KqlError

_SPAN_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# Longest first, so `!contains` wins over `!`, `=~` over `=`, `..` over `.`.
_SYMBOLS = ("==", "!=", "=~", "!~", "<=", ">=", "..", "|", ",", "(", ")", "[", "]", "=", "<", ">", "+", "-", "*",
            "/", "%", ";", ".")
_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<datetime>datetime\s*\(\s*(?P<when>[^)]*?)\s*\))
  | (?P<vstring>@'[^']*'|@"[^"]*")
  | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?P<unit>ms|d|h|m|s)?(?![A-Za-z0-9_])
  | (?P<name>!?[A-Za-z_][A-Za-z0-9_]*~?)
""", re.X | re.I)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True)
class Token:
    kind: str  # name, string, number, span, datetime, symbol, end
    value: object
    pos: int
    text: str


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), body)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m and m.lastgroup == "ws":
            i = m.end()
            continue
        if m:  # `!has`, `!in~`, `in~` are names here; the parser knows them as operators
            raw = m[0]
            if m["datetime"]:  # the literal is raw text (2024-01-01T00:00:00Z), not tokens
                tokens.append(Token("datetime", m["when"].strip("'\""), i, raw))
            elif m["vstring"]:
                tokens.append(Token("string", raw[2:-1], i, raw))
            elif m["string"]:
                tokens.append(Token("string", _unescape(raw[1:-1]), i, raw))
            elif m["number"] is not None:
                tokens.append(_number(m["number"], m["unit"], i, raw))
            else:
                tokens.append(Token("name", raw, i, raw))
            i = m.end()
            continue
        sym = next((s for s in _SYMBOLS if text.startswith(s, i)), None)
        if sym is None:
            raise KqlError("SyntaxError", f"Unexpected character {text[i]!r} at position {i}.")
        tokens.append(Token("symbol", sym, i, sym))
        i += len(sym)
    tokens.append(Token("end", None, len(text), "<end of query>"))
    return tokens


def _number(digits: str, unit: str | None, pos: int, raw: str) -> Token:
    if unit:
        return Token("span", timedelta(seconds=float(digits) * _SPAN_UNITS[unit.lower()]), pos, raw)
    value: object = float(digits) if any(c in digits for c in ".eE") else int(digits)
    return Token("number", value, pos, raw)
