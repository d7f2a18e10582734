"""A KQL engine for the subset the watchdog's log queries use, so the emulated Log Analytics
answers what the real one would and a wrong query fails a test instead of passing on canned rows.

Subset: `let` of scalars; a table, `union [isfuzzy=true]` of tables and `( subqueries )`;
`where`, `extend`, `project`, `summarize ... [by ...]`, `order by`/`sort by` (asc/desc), `take`/`limit`.
Expressions: `and`/`or`/`not()`, `==` `!=` `=~` `!~` `<` `<=` `>` `>=`, `in`/`!in`/`in~`/`!in~`,
`has`/`!has`, `contains`/`!contains`, `startswith`, `between (a .. b)`, arithmetic `+ - * / %` over
numbers, datetimes and timespans (`5m`, `1h`, `30s`), a dynamic column's properties
(`Properties.rule`, `Properties["rule"]`), and the functions in `scalar.FUNCTIONS`
(ago, now, datetime, bin, datetime_diff, isnull, isnotnull, isempty, isnotempty, iff, coalesce,
strcat, tostring, tolong, toreal, extract, replace_regex, abs, round, tolower, toupper) and the
aggregations in `engine.AGGREGATES` (count, countif, sum, sumif, avg, min, max, minif, maxif,
dcount, dcountif, make_set). Anything else raises KqlError (SyntaxError or SemanticError).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from .engine import Table, run
from .errors import KqlError

__all__ = ["KqlError", "Table", "run", "cell"]


def cell(value: Any) -> Any:
    """A value as Log Analytics writes it in a JSON result row."""
    if isinstance(value, datetime):  # 7 fractional digits, UTC
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        text = f"{int(hours):02d}:{int(minutes):02d}:{secs:010.7f}".rstrip("0").rstrip(".")
        return f"{sign}{int(days)}.{text}" if days else sign + text
    if isinstance(value, (list, dict)):  # dynamic values travel as JSON text
        return json.dumps(value, separators=(",", ":"), default=str)
    return value
