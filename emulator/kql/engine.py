"""Tabular operators over in-memory tables: union, where, extend, project, summarize, order by,
take. A table is its typed columns (in order) and rows (dicts by column name)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from .errors import KqlError
from .parser import Expr, Named, Op, Pipeline, Source, parse
from .scalar import Scope, compile_expr, evaluate, infer


@dataclass
class Table:
    columns: list[tuple[str, str]]  # (name, Log Analytics type)
    rows: list[dict[str, Any]]

    @property
    def schema(self) -> dict[str, str]:
        return dict(self.columns)


def run(query: str, tables: Mapping[str, Table], now: datetime) -> Table:
    """Execute `query` over `tables` (by name). Raises KqlError for anything outside the subset."""
    parsed = parse(query)
    return _Executor(tables, Scope(parsed.lets, now)).pipeline(parsed.body)


# aggregate -> (implementation over the list of argument tuples, result type; "arg" = first argument's)
def _values(args: list[tuple[Any, ...]]) -> list[Any]:
    return [a[0] for a in args if a[0] is not None]


def _where(args: list[tuple[Any, ...]]) -> list[Any]:
    return [a[0] for a in args if a[1] and a[0] is not None]


AGGREGATES: dict[str, tuple[Callable[[list[tuple[Any, ...]]], Any], str, int]] = {
    "count": (lambda a: len(a), "long", 0),
    "countif": (lambda a: sum(1 for x in a if x[0]), "long", 1),
    "sum": (lambda a: sum(_values(a)), "arg", 1),
    "sumif": (lambda a: sum(_where(a)), "arg", 2),
    "avg": (lambda a: (sum(_values(a)) / len(_values(a))) if _values(a) else None, "real", 1),
    "min": (lambda a: min(_values(a), default=None), "arg", 1),
    "max": (lambda a: max(_values(a), default=None), "arg", 1),
    "minif": (lambda a: min(_where(a), default=None), "arg", 2),
    "maxif": (lambda a: max(_where(a), default=None), "arg", 2),
    "dcount": (lambda a: len(set(_values(a))), "long", 1),
    "dcountif": (lambda a: len(set(_where(a))), "long", 2),
    "make_set": (lambda a: sorted(set(_values(a)), key=str)[:_limit(a, 1)], "dynamic", -2),
}


def _limit(args: list[tuple[Any, ...]], at: int) -> int:
    return int(args[0][at]) if args and len(args[0]) > at and args[0][at] is not None else 1_048_576


class _Executor:
    def __init__(self, tables: Mapping[str, Table], scope: Scope) -> None:
        self.tables = tables
        self.scope = scope

    def pipeline(self, pipeline: Pipeline) -> Table:
        table = self.source(pipeline.source)
        for op in pipeline.ops:
            table = getattr(self, "op_" + op.kind)(table, op)
        return table

    def source(self, source: Source) -> Table:
        legs: list[Table] = []
        for leg in source.tables:
            if isinstance(leg, Pipeline):
                legs.append(self.pipeline(leg))
            elif leg in self.tables:
                legs.append(self.tables[leg])
            elif not source.fuzzy:
                raise KqlError("SemanticError", f"Failed to resolve table or column expression named '{leg}'.")
        if not legs:
            raise KqlError("SemanticError", "union: none of the tables could be resolved.")
        columns: dict[str, str] = {}
        for leg in legs:
            for name, kind in leg.columns:
                if columns.setdefault(name, kind) != kind:  # Log Analytics would suffix the name by type
                    raise KqlError("SemanticError", f"union: column '{name}' is both {columns[name]} and {kind}.")
        return Table(list(columns.items()), [row for leg in legs for row in leg.rows])

    def op_where(self, table: Table, op: Op) -> Table:
        predicate = op.items[0]
        if infer(predicate, table.schema, self.scope.lets) != "bool":
            raise KqlError("SemanticError", "'where' operator: the predicate is not a boolean expression.")
        test = compile_expr(predicate, table.schema, self.scope)
        return Table(table.columns, [r for r in table.rows if test(r) is True])

    def op_extend(self, table: Table, op: Op) -> Table:
        columns = dict(table.columns)
        rows = [dict(r) for r in table.rows]
        for item in op.items:
            name = _name(item)
            fn = compile_expr(item.expr, columns, self.scope)
            columns[name] = infer(item.expr, columns, self.scope.lets)
            for row in rows:
                row[name] = fn(row)
        return Table(list(columns.items()), rows)

    def op_project(self, table: Table, op: Op) -> Table:
        columns = [(_name(i), infer(i.expr, table.schema, self.scope.lets)) for i in op.items]
        fns = [(name, compile_expr(i.expr, table.schema, self.scope)) for (name, _), i in zip(columns, op.items)]
        rows = [{name: fn(r) for name, fn in fns} for r in table.rows]
        return Table(columns, rows)

    def op_summarize(self, table: Table, op: Op) -> Table:
        schema, lets = table.schema, self.scope.lets
        keys = [(_name(k), k.expr, infer(k.expr, schema, lets)) for k in op.by]
        aggs = []
        for item in op.items:
            call = item.expr
            if call.kind != "call" or call.value not in AGGREGATES:
                raise KqlError("SemanticError", "summarize: expected an aggregation function "
                                                f"({', '.join(AGGREGATES)}).")
            fn, result, arity = AGGREGATES[call.value]
            if arity >= 0 and len(call.args) != arity or arity < 0 and not 1 <= len(call.args) <= -arity:
                raise KqlError("SemanticError", f"{call.value}(): wrong number of arguments.")
            kinds = [infer(a, schema, lets) for a in call.args]
            args = [compile_expr(a, schema, self.scope) for a in call.args]
            aggs.append((item.name or _agg_name(call), args, fn, kinds[0] if result == "arg" else result))
        key_fns = [compile_expr(k, schema, self.scope) for _, k, _t in keys]
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in table.rows:
            groups.setdefault(tuple(_hashable(f(row)) for f in key_fns), []).append(row)
        if not keys and not groups:
            groups[()] = []  # summarize without `by` always gives one row
        out = []
        for key, rows in groups.items():
            record = {name: value for (name, _, _t), value in zip(keys, key)}
            for name, args, fn, _kind in aggs:
                record[name] = fn([tuple(a(r) for a in args) for r in rows])
            out.append(record)
        return Table([(n, t) for n, _, t in keys] + [(a[0], a[3]) for a in aggs], out)

    def op_order(self, table: Table, op: Op) -> Table:
        rows = list(table.rows)
        for expr, descending in reversed(op.items):
            infer(expr, table.schema, self.scope.lets)
            fn = compile_expr(expr, table.schema, self.scope)
            # Log Analytics puts nulls last when descending, first when ascending.
            rows.sort(key=lambda r: _sort_key(fn(r)), reverse=descending)
        return Table(table.columns, rows)

    def op_take(self, table: Table, op: Op) -> Table:
        count = evaluate(op.value, {}, self.scope)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise KqlError("SemanticError", "take: expected a non-negative whole number.")
        return Table(table.columns, table.rows[:count])


def _name(item: Named) -> str:
    if item.name:
        return item.name
    expr = item.expr
    while expr.kind == "call" and expr.args:  # bin(TimeGenerated, 1h) keeps the column's name
        expr = expr.args[0]
    if expr.kind == "col":
        return expr.value
    raise KqlError("SemanticError", "An expression needs a name here: write 'Name = expression'.")


def _agg_name(call: Expr) -> str:
    first = call.args[0] if call.args else None
    return f"{call.value}_{first.value}" if first is not None and first.kind == "col" else f"{call.value}_"


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)
