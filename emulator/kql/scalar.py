"""Scalar expressions: evaluation over one row, and the type Log Analytics would give the result.

Nulls propagate as in KQL: arithmetic or a comparison with null is null, and a null predicate
keeps no row. String operators follow KQL: `==`/`in` are case-sensitive, `=~`/`in~`/`has`/
`contains`/`startswith` are not; `has` matches whole terms (runs of letters and digits).
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from .errors import KqlError
from .parser import Expr

Row = Mapping[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DIFF_PARTS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class Scope:
    """What an expression can see besides the row: `let` scalars and the query's clock."""

    def __init__(self, lets: Mapping[str, Expr], now: datetime) -> None:
        self.lets = lets
        self.now = now


Compiled = Callable[[Row], Any]


def compile_expr(expr: Expr, schema: Mapping[str, str], scope: Scope) -> Compiled:
    """`expr` as a function of a row, once per operator rather than interpreted per row: columns
    resolve against `schema` (a union row may lack a leg's column: null), constants fold."""
    return _compile(expr, schema, scope)[0]


def _compile(expr: Expr, schema: Mapping[str, str], scope: Scope) -> tuple[Compiled, bool]:
    """The function and whether it is constant (reads no column)."""
    kind = expr.kind
    if kind == "lit":
        value = expr.value
        return (lambda row: value), True
    if kind == "col":
        name = expr.value
        if name in schema:
            return (lambda row: row.get(name)), False
        if name in scope.lets:
            return _fold(*_compile(scope.lets[name], schema, scope))
        raise KqlError("SemanticError", f"Failed to resolve scalar expression named '{name}'.")
    parts = [_compile(a, schema, scope) for a in expr.args]
    fns, const = [p[0] for p in parts], all(p[1] for p in parts)
    if kind == "list":
        return _fold(lambda row: [f(row) for f in fns], const)
    if kind == "unary":
        inner = fns[0]
        return _fold(lambda row: None if (v := inner(row)) is None else -v, const)
    if kind == "member":
        inner, key = fns[0], expr.value
        return _fold(lambda row: v.get(key) if isinstance(v := inner(row), dict) else None, const)
    if kind == "call":
        if expr.value not in FUNCTIONS:
            raise KqlError("SemanticError", f"'{expr.value}' is not a supported scalar function here.")
        impl = FUNCTIONS[expr.value][0]
        return _fold(lambda row: impl(scope, *[f(row) for f in fns]), const)
    return _fold(_binary(expr.value, fns, parts[1][1], expr.args[1]), const)


def _fold(fn: Compiled, const: bool) -> tuple[Compiled, bool]:
    if not const:
        return fn, False
    value = fn({})
    return (lambda row: value), True


def _binary(op: str, fns: list[Compiled], right_const: bool, right: Expr) -> Compiled:
    left_fn, right_fn = fns
    if op == "and":
        return lambda row: bool(left_fn(row)) and bool(right_fn(row))
    if op == "or":
        return lambda row: bool(left_fn(row)) or bool(right_fn(row))
    if op in ("in", "!in", "in~", "!in~", "between", "!between"):
        return _membership(op, left_fn, right_fn, right_const)
    if op in ("has", "!has") and right_const:  # the usual case: one compiled pattern
        pattern, negate = _term(str(right_fn({}))), op == "!has"
        return lambda row: None if (v := left_fn(row)) is None else (pattern.search(str(v)) is None) == negate
    if op in _STRING_OPS:
        test = _STRING_OPS[op]

        def string_op(row: Row) -> Any:
            left, value = left_fn(row), right_fn(row)
            return None if left is None or value is None else test(str(left), str(value))
        return string_op
    arith = _ARITH[op]

    def arithmetic(row: Row) -> Any:
        left, value = left_fn(row), right_fn(row)
        if left is None or value is None:
            return None
        try:
            return arith(left, value)
        except TypeError:
            raise KqlError("SemanticError", f"Operator '{op}' cannot take {type(left).__name__} and "
                                            f"{type(value).__name__}.") from None
    return arithmetic


def _membership(op: str, left_fn: Compiled, values_fn: Compiled, const: bool) -> Compiled:
    negate, between = op.startswith("!"), op.endswith("between")
    fold = str.lower if op.endswith("~") else (lambda v: v)
    fixed = None if (between or not const) else {fold(str(v)) if op.endswith("~") else v for v in values_fn({})}

    def member(row: Row) -> bool:
        left = left_fn(row)
        if left is None:
            return negate
        if between:
            low, high = values_fn(row)
            return (low <= left <= high) != negate
        values = fixed if fixed is not None else {fold(str(v)) if op.endswith("~") else v for v in values_fn(row)}
        return ((fold(str(left)) if op.endswith("~") else left) in values) != negate
    return member


def evaluate(expr: Expr, row: Row, scope: Scope) -> Any:
    """One evaluation (a `take` count, a test): compile_expr for every row of a table."""
    return compile_expr(expr, {k: "dynamic" for k in row}, scope)(row)


def _term(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(term)}(?![A-Za-z0-9])", re.I)


def _has(text: str, term: str) -> bool:
    return _term(term).search(text) is not None


def _divide(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
        return int(a / b) if b else None  # long / long is a long in KQL
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a / b
    return a / b if b else None


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "=~": lambda a, b: a.lower() == b.lower(),
    "!~": lambda a, b: a.lower() != b.lower(),
    "has": _has,
    "!has": lambda a, b: not _has(a, b),
    "contains": lambda a, b: b.lower() in a.lower(),
    "!contains": lambda a, b: b.lower() not in a.lower(),
    "startswith": lambda a, b: a.lower().startswith(b.lower()),
    "!startswith": lambda a, b: not a.lower().startswith(b.lower()),
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "+": lambda a, b: a + b, "-": lambda a, b: a - b,
    "*": lambda a, b: a * b, "/": _divide, "%": lambda a, b: a % b if b else None,
}


# --- functions ----------------------------------------------------------------------------

def _datetime(_: Scope, text: Any) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise KqlError("SyntaxError", f"'{text}' is not a datetime literal.") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _bin(_: Scope, value: Any, size: Any) -> Any:
    if value is None or size is None:
        return None
    if isinstance(value, datetime):
        step = size.total_seconds()
        return _EPOCH + timedelta(seconds=math.floor((value - _EPOCH).total_seconds() / step) * step)
    if isinstance(value, timedelta):
        return size * math.floor(value / size)
    result = math.floor(value / size) * size
    return int(result) if isinstance(value, int) and isinstance(size, int) else float(result)


def _datetime_diff(_: Scope, part: Any, a: Any, b: Any) -> int | None:
    if part not in _DIFF_PARTS:
        raise KqlError("SemanticError", f"datetime_diff: unsupported period '{part}' (use {', '.join(_DIFF_PARTS)}).")
    if a is None or b is None:
        return None
    # KQL counts boundaries crossed; for seconds and up that is the floored difference of both.
    unit = _DIFF_PARTS[part]
    return math.floor((a - _EPOCH).total_seconds() / unit) - math.floor((b - _EPOCH).total_seconds() / unit)


def _extract(_: Scope, pattern: Any, group: Any, text: Any) -> str | None:
    if text is None:
        return None
    m = re.search(str(pattern), str(text))
    return (m.group(int(group)) or "") if m else ""


def _replace_regex(_: Scope, text: Any, pattern: Any, rewrite: Any) -> str | None:
    if text is None:
        return None
    return re.sub(str(pattern), re.sub(r"\\(\d)", r"\\g<\1>", str(rewrite)), str(text))


def _tostring(_: Scope, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _number(cast: Callable[[Any], Any]) -> Callable[..., Any]:
    def convert(_: Scope, value: Any) -> Any:
        try:
            return None if value in (None, "") else cast(float(value) if cast is int else value)
        except (TypeError, ValueError):
            return None
    return convert


# name -> (implementation, result type; "arg" = the type of the first argument)
FUNCTIONS: dict[str, tuple[Callable[..., Any], str]] = {
    "ago": (lambda s, span: s.now - span, "datetime"),
    "now": (lambda s: s.now, "datetime"),
    "datetime": (_datetime, "datetime"),
    "bin": (_bin, "arg"),
    "datetime_diff": (_datetime_diff, "long"),
    "isnull": (lambda s, v: v is None, "bool"),
    "isnotnull": (lambda s, v: v is not None, "bool"),
    "isempty": (lambda s, v: v is None or v == "", "bool"),
    "isnotempty": (lambda s, v: not (v is None or v == ""), "bool"),
    "not": (lambda s, v: None if v is None else not v, "bool"),
    "iff": (lambda s, c, a, b: a if c else b, "arg2"),
    "iif": (lambda s, c, a, b: a if c else b, "arg2"),
    "coalesce": (lambda s, *vs: next((v for v in vs if v is not None and v != ""), None), "arg"),
    "strcat": (lambda s, *vs: "".join(_tostring(s, v) for v in vs), "string"),
    "tostring": (_tostring, "string"),
    "tolower": (lambda s, v: None if v is None else str(v).lower(), "string"),
    "toupper": (lambda s, v: None if v is None else str(v).upper(), "string"),
    "extract": (_extract, "string"),
    "replace_regex": (_replace_regex, "string"),
    "tolong": (_number(int), "long"),
    "toint": (_number(int), "long"),
    "toreal": (_number(float), "real"),
    "todouble": (_number(float), "real"),
    "abs": (lambda s, v: None if v is None else abs(v), "arg"),
    "round": (lambda s, v, digits=0: None if v is None else round(float(v), int(digits)), "real"),
}


def infer(expr: Expr, schema: Mapping[str, str], lets: Mapping[str, Expr]) -> str:
    """The column type Log Analytics reports for an expression: string, long, real, bool,
    datetime, timespan or dynamic."""
    kind = expr.kind
    if kind == "lit":
        return _type_of(expr.value)
    if kind == "col":
        if expr.value in schema:
            return schema[expr.value]
        if expr.value in lets:
            return infer(lets[expr.value], schema, lets)
        raise KqlError("SemanticError", f"Failed to resolve scalar expression named '{expr.value}'.")
    if kind == "unary":
        return infer(expr.args[0], schema, lets)
    if kind == "call":
        if expr.value not in FUNCTIONS:
            raise KqlError("SemanticError", f"'{expr.value}' is not a supported scalar function here.")
        result = FUNCTIONS[expr.value][1]
        if result == "arg":
            return infer(expr.args[0], schema, lets) if expr.args else "string"
        if result == "arg2":
            return infer(expr.args[1], schema, lets)
        return result
    if kind == "bin":
        if expr.value in ("+", "-", "*", "/", "%"):
            left, right = (infer(a, schema, lets) for a in expr.args)
            return _arith_type(expr.value, left, right)
        # Resolve columns now, so an unknown one fails even with no rows, and compare like with
        # like: `StatusCode == 401` on a string column is an error in Log Analytics, not a miss.
        left_arg, right_arg = expr.args
        left = infer(left_arg, schema, lets)
        rights = [infer(a, schema, lets) for a in (right_arg.args if right_arg.kind == "list" else (right_arg,))]
        if expr.value in ("and", "or"):
            if {left, *rights} - {"bool", "dynamic"}:
                raise KqlError("SemanticError", f"'{expr.value}' needs boolean operands, not {left} and {rights[0]}.")
        elif expr.value not in _STRING_OPS:
            for right in rights:
                if _family(left) != _family(right) and "dynamic" not in (left, right):
                    raise KqlError("SemanticError", f"Cannot compare values of types {left} and {right} "
                                                    f"with '{expr.value}'.")
        return "bool"
    return "dynamic"


def _family(kind: str) -> str:
    return "number" if kind in ("long", "real", "int") else kind


def _arith_type(op: str, left: str, right: str) -> str:
    if {left, right} & {"string", "bool", "dynamic"}:
        raise KqlError("SemanticError", f"Operator '{op}' cannot take {left} and {right}.")
    if left == "datetime" and right == "datetime":
        return "timespan"
    if "datetime" in (left, right):
        return "datetime"
    if left == "timespan" and right == "timespan":
        return "real" if op == "/" else "timespan"
    if "timespan" in (left, right):
        return "timespan"
    return "long" if left == right == "long" else "real"


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "real"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, timedelta):
        return "timespan"
    if isinstance(value, (list, dict)):
        return "dynamic"
    return "string"
