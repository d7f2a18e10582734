"""Parser of the KQL subset into a small tree (see emulator/kql/__init__.py for the subset).

Anything outside the subset is a SyntaxError naming the token, so a query the watchdog sends
that Log Analytics would read differently fails a test instead of passing on canned rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import KqlError
from .lexer import Token, tokenize

# Binary operators by precedence, loosest first. Word operators are case-sensitive in KQL.
_COMPARE = ("==", "!=", "=~", "!~", "<", "<=", ">", ">=", "has", "!has", "contains", "!contains",
            "startswith", "!startswith")
_IN = ("in", "!in", "in~", "!in~")
_BETWEEN = ("between", "!between")


@dataclass(frozen=True)
class Expr:
    kind: str  # col, lit, call, bin, unary, list, member (of a dynamic value)
    value: Any = None  # column name, literal value, function name, operator
    args: tuple["Expr", ...] = ()


@dataclass(frozen=True)
class Named:
    name: str | None  # output column name, None = derived
    expr: Expr


@dataclass
class Op:
    kind: str  # where, extend, project, summarize, order, take
    items: list[Any] = field(default_factory=list)
    by: list[Named] = field(default_factory=list)
    value: Any = None


@dataclass
class Source:
    tables: list[Any]  # table names (str) and subqueries (Pipeline)
    fuzzy: bool = False


@dataclass
class Pipeline:
    source: Source
    ops: list[Op]


@dataclass
class Query:
    lets: dict[str, Expr]
    body: Pipeline


def parse(text: str) -> Query:
    return _Parser(tokenize(text)).query()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.t = tokens
        self.i = 0

    # --- token helpers ---------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.t[self.i]

    def at(self, *values: str) -> bool:
        return self.tok.kind in ("symbol", "name") and self.tok.value in values

    def take(self, *values: str) -> bool:
        if self.at(*values):
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.take(value):
            self.fail(f"expected '{value}'")

    def name(self) -> str:
        if self.tok.kind != "name" or self.tok.value.startswith("!") or self.tok.value.endswith("~"):
            self.fail("expected a name")
        self.i += 1
        return self.t[self.i - 1].value

    def fail(self, what: str) -> None:
        raise KqlError("SyntaxError", f"{what} but found '{self.tok.text}' at position {self.tok.pos}.")

    # --- statements ------------------------------------------------------------------------
    def query(self) -> Query:
        lets: dict[str, Expr] = {}
        while self.take("let"):
            name = self.name()
            self.expect("=")
            lets[name] = self.expr()
            self.expect(";")
        body = self.pipeline()
        self.take(";")
        if self.tok.kind != "end":
            self.fail("expected the end of the query")
        return Query(lets, body)

    def pipeline(self) -> Pipeline:
        source = self.source()
        ops = []
        while self.take("|"):
            ops.append(self.operator())
        return Pipeline(source, ops)

    def source(self) -> Source:
        if self.take("union"):
            fuzzy = False
            while self.tok.kind == "name" and self.t[self.i + 1].value == "=":
                option = self.name()
                self.expect("=")
                if option != "isfuzzy" or not self.at("true", "false"):
                    self.fail(f"unsupported union option '{option}'")
                fuzzy = self.tok.value == "true"
                self.i += 1
            tables = [self.union_leg()]
            while self.take(","):
                tables.append(self.union_leg())
            return Source(tables, fuzzy)
        return Source([self.union_leg()])

    def union_leg(self) -> Any:
        if self.take("("):
            sub = self.pipeline()
            self.expect(")")
            return sub
        return self.name()

    def operator(self) -> Op:
        word = self.tok.value if self.tok.kind == "name" else None
        self.i += 1
        if word == "where":
            return Op("where", [self.expr()])
        if word in ("extend", "project"):
            return Op(word, self.named_list(word == "project"))
        if word == "summarize":
            aggs = [] if self.at("by") else self.named_list(False)
            by = self.named_list(True) if self.take("by") else []
            return Op("summarize", aggs, by)
        if word in ("order", "sort"):
            self.expect("by")
            keys = [self.sort_key()]
            while self.take(","):
                keys.append(self.sort_key())
            return Op("order", keys)
        if word in ("take", "limit"):
            return Op("take", value=self.expr())
        self.i -= 1
        self.fail("expected a supported tabular operator (where, extend, project, summarize, order by, sort by, "
                  "take, limit)")
        raise AssertionError  # unreachable

    def named_list(self, bare_columns: bool) -> list[Named]:
        items = [self.named(bare_columns)]
        while self.take(","):
            items.append(self.named(bare_columns))
        return items

    def named(self, bare_columns: bool) -> Named:
        if self.tok.kind == "name" and self.t[self.i + 1].value == "=" and self.t[self.i + 1].kind == "symbol":
            name = self.name()
            self.i += 1
            return Named(name, self.expr())
        expr = self.expr()
        if not bare_columns and expr.kind == "col":
            self.fail("expected 'name = expression'")
        return Named(None, expr)

    def sort_key(self) -> tuple[Expr, bool]:
        expr = self.expr()
        if self.take("asc"):
            return expr, False
        self.take("desc")
        return expr, True  # KQL sorts descending by default

    # --- expressions -----------------------------------------------------------------------
    def expr(self) -> Expr:
        left = self.conjunction()
        while self.take("or"):
            left = Expr("bin", "or", (left, self.conjunction()))
        return left

    def conjunction(self) -> Expr:
        left = self.comparison()
        while self.take("and"):
            left = Expr("bin", "and", (left, self.comparison()))
        return left

    def comparison(self) -> Expr:
        left = self.additive()
        if self.tok.kind in ("symbol", "name") and self.tok.value in _COMPARE:
            op = self.tok.value
            self.i += 1
            return Expr("bin", op, (left, self.additive()))
        if self.tok.kind == "name" and self.tok.value in _IN:
            op = self.tok.value
            self.i += 1
            return Expr("bin", op, (left, self.paren_list()))
        if self.tok.kind == "name" and self.tok.value in _BETWEEN:
            op = self.tok.value
            self.i += 1
            self.expect("(")
            low = self.additive()
            self.expect("..")
            high = self.additive()
            self.expect(")")
            return Expr("bin", op, (left, Expr("list", args=(low, high))))
        return left

    def paren_list(self) -> Expr:
        self.expect("(")
        items = [self.additive()]
        while self.take(","):
            items.append(self.additive())
        self.expect(")")
        return Expr("list", args=tuple(items))

    def additive(self) -> Expr:
        left = self.multiplicative()
        while self.at("+", "-") and self.tok.kind == "symbol":
            op = self.tok.value
            self.i += 1
            left = Expr("bin", op, (left, self.multiplicative()))
        return left

    def multiplicative(self) -> Expr:
        left = self.unary()
        while self.at("*", "/", "%") and self.tok.kind == "symbol":
            op = self.tok.value
            self.i += 1
            left = Expr("bin", op, (left, self.unary()))
        return left

    def unary(self) -> Expr:
        if self.tok.kind == "symbol" and self.tok.value == "-":
            self.i += 1
            return Expr("unary", "-", (self.unary(),))
        return self.primary()

    def primary(self) -> Expr:
        tok = self.tok
        if tok.kind in ("string", "number", "span"):
            self.i += 1
            return Expr("lit", tok.value)
        if self.take("("):
            inner = self.expr()
            self.expect(")")
            return inner
        if tok.kind == "name" and tok.value in ("true", "false"):
            self.i += 1
            return Expr("lit", tok.value == "true")
        if tok.kind == "datetime":
            self.i += 1
            return Expr("call", "datetime", (Expr("lit", tok.value),))
        if tok.kind == "name" and self.t[self.i + 1].value == "(" and self.t[self.i + 1].kind == "symbol":
            name = self.name()
            self.i += 1
            args: list[Expr] = []
            if not self.take(")"):
                args.append(self.expr())
                while self.take(","):
                    args.append(self.expr())
                self.expect(")")
            return Expr("call", name, tuple(args))
        return self.members(Expr("col", self.name()))

    def members(self, expr: Expr) -> Expr:
        """A dynamic column's properties: `Properties.rule`, `Properties["rule"]`."""
        while True:
            if self.take("."):
                expr = Expr("member", self.name(), (expr,))
            elif self.take("["):
                tok = self.tok
                if tok.kind != "string":
                    self.fail("a property name in quotes")
                self.i += 1
                self.expect("]")
                expr = Expr("member", tok.value, (expr,))
            else:
                return expr
