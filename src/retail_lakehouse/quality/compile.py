"""Rule expressions (SQL-like text) to Ibis expressions, through a whitelisted translator.

The text is parsed with sqlglot *as an expression* and every node is translated explicitly:
columns of the rule schema, literals, comparisons, boolean logic, ``IS [NOT] NULL``, ``IN``,
``BETWEEN``, ``LIKE``, regular expressions, arithmetic, ``CASE`` and a short list of functions.
Anything else is refused at load time. User text therefore never reaches an engine as SQL, and
one definition runs identically on DuckDB and Spark.

Statistics over groups of lines (``median(unit_price) OVER (PARTITION BY stock_code)``,
``robust_z(quantity, stock_code)``) are not engine windows: they are collected as
:class:`StatSpec` objects, computed once per run as grouped aggregates joined back to the lines
(cheaper than windows, and shared between rules), and the translator reads them as columns.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.common.annotations import ValidationError
from ibis.common.exceptions import IbisError
from sqlglot import exp, parse_one
from sqlglot.errors import ParseError, TokenError

from retail_lakehouse.lake.contracts.silver import SILVER_SALES_LINES
from retail_lakehouse.pipeline.errors import RulesError
from retail_lakehouse.pipeline.text import ascii_lower, ascii_upper, is_blank, strip_whitespace
from retail_lakehouse.quality.rules import Rule, RuleSet, TableTest

_NOT_FOR_RULES = {
    "quality_score",
    "quality_flags",
    "_line_key",
    "_batch_id",
    "_record_hash",
    "_run_id",
    "_processed_at",
}
RAW_TEXT_COLUMNS = (
    "raw_quantity",
    "raw_unit_price",
    "raw_invoice_date",
    "raw_country",
)


@functools.cache
def rule_schema() -> ibis.Schema:
    """Columns a rule may use: the typed silver columns and flags, the raw text of the columns
    that are parsed (``raw_quantity``, ``raw_unit_price``, ``raw_invoice_date``,
    ``raw_country``), ``date_against_file_order`` (the date reads only in the other day/month
    order than its file's), and ``_source_file``/``_batch_seq``/``_row_number``."""
    typed = ibis.Schema.from_pyarrow(SILVER_SALES_LINES.schema)
    fields = {n: t for n, t in typed.items() if n not in _NOT_FOR_RULES}
    fields.update({c: dt.string for c in RAW_TEXT_COLUMNS})
    fields["date_against_file_order"] = dt.boolean
    return ibis.schema(fields)


# -- statistics ----------------------------------------------------------------------------

_WINDOW_AGGREGATES: dict[type[exp.Expr], str] = {
    exp.Median: "median",
    exp.Avg: "avg",
    exp.Min: "min",
    exp.Max: "max",
    exp.Sum: "sum",
    exp.Count: "count",
    exp.Stddev: "stddev",
    exp.StddevSamp: "stddev",
}
_FLOAT_STATS = {"median", "avg", "stddev", "robust_z"}
_NUMERIC_STATS = _FLOAT_STATS | {"sum"}
"""The statistics whose value must be a number (min, max and count take any type)."""


@dataclass(frozen=True)
class StatSpec:
    """A statistic over groups of lines: ``kind`` of ``arg`` per ``partition`` (may be empty)."""

    kind: str
    arg: str  # canonical SQL text of the argument expression
    partition: tuple[str, ...]

    @property
    def column(self) -> str:
        digest = hashlib.sha1(f"{self.kind}|{self.arg}|{self.partition}".encode()).hexdigest()
        return f"_stat_{self.kind}_{digest[:10]}"

    @property
    def arg_ast(self) -> exp.Expr:
        if self.arg == "*":  # count(*): counting lines, whatever their values
            return exp.Literal.number(1)
        return parse_one(self.arg, read="duckdb")


def _partition(node: exp.Expr, items: Iterable[exp.Expr]) -> tuple[str, ...]:
    names: list[str] = []
    for item in items:
        if not isinstance(item, exp.Column) or item.table:
            raise _Refused(f"PARTITION BY takes column names only, not {item.sql()!r}", node)
        names.append(item.name.lower())
    return tuple(names)


def _stat_of(node: exp.Expr) -> StatSpec | None:
    if isinstance(node, exp.Window):
        inner = node.this
        kind = _WINDOW_AGGREGATES.get(type(inner))
        if kind is None:
            raise _Refused(
                f"{inner.key.upper()} is not supported over a window; use one of "
                f"{', '.join(sorted(set(_WINDOW_AGGREGATES.values())))}",
                node,
            )
        if node.args.get("order") or node.args.get("spec"):
            raise _Refused("windows take PARTITION BY only (no ORDER BY or frame)", node)
        arg = inner.this
        if isinstance(arg, exp.Star):
            if kind != "count":
                raise _Refused("only count(*) may use *", node)
            arg_sql = "*"
        else:
            if any(isinstance(n, exp.Window | exp.AggFunc) for n in arg.find_all(exp.Expr)):
                raise _Refused("window aggregates cannot be nested", node)
            arg_sql = arg.sql(dialect="duckdb")
        return StatSpec(kind, arg_sql, _partition(node, node.args.get("partition_by") or []))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "robust_z":
        args = node.expressions
        if not args:
            raise _Refused("robust_z(value [, partition column ...]) needs a value", node)
        value = args[0]
        if any(isinstance(n, exp.Window | exp.AggFunc) for n in value.find_all(exp.Expr)):
            raise _Refused("robust_z cannot take an aggregate", node)
        return StatSpec("robust_z", value.sql(dialect="duckdb"), _partition(node, args[1:]))
    return None


def collect_stats(node: exp.Expr) -> list[StatSpec]:
    """Every statistic an expression uses, in order of appearance, without repeats."""
    found: dict[StatSpec, None] = {}
    for sub in node.walk(bfs=False):
        spec = _stat_of(sub)
        if spec is not None:
            found[spec] = None
    return list(found)


# -- translation -----------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, message: str, node: exp.Expr | None = None) -> None:
        where = f" in {node.sql(dialect='duckdb')!r}" if node is not None else ""
        super().__init__(f"{message}{where}")


_COMPARISONS: dict[type[exp.Expr], Callable[[Any, Any], Any]] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
}
_ARITHMETIC: dict[type[exp.Expr], Callable[[Any, Any], Any]] = {
    exp.Add: lambda a, b: a + b,
    exp.Sub: lambda a, b: a - b,
    exp.Mul: lambda a, b: a * b,
    exp.Div: lambda a, b: a / b,
    exp.Mod: lambda a, b: a % b,
}
_UNARY_FUNCTIONS: dict[type[exp.Expr], Callable[[Any], Any]] = {
    exp.Length: lambda v: v.length(),
    exp.Upper: ascii_upper,  # ASCII letters only: identical on every engine (decision 0010)
    exp.Lower: ascii_lower,
    exp.Abs: lambda v: v.abs(),
    exp.Year: lambda v: v.year(),
    exp.Month: lambda v: v.month(),
    exp.Day: lambda v: v.day(),
}
_INTERVAL_UNITS = {
    "DAY": "days",
    "DAYS": "days",
    "HOUR": "hours",
    "HOURS": "hours",
    "MINUTE": "minutes",
    "MINUTES": "minutes",
    "SECOND": "seconds",
    "SECONDS": "seconds",
    "WEEK": "weeks",
    "WEEKS": "weeks",
}

FUNCTIONS_HELP = (
    "length, upper, lower, trim, abs, coalesce, nullif, year, month, day, "
    "regexp_matches, starts_with, is_blank, now, current_date, current_timestamp, "
    "robust_z, and median/avg/min/max/sum/count/stddev(...) OVER (PARTITION BY ...)"
)


class Translator:
    """Translates one parsed expression over ``table``; statistics come from ``stat``."""

    def __init__(
        self,
        table: ir.Table,
        *,
        now: datetime,
        stat: Callable[[StatSpec], ir.Value],
        columns: Iterable[str] | None = None,
    ) -> None:
        self.table = table
        self.now = now.replace(tzinfo=None, microsecond=0)
        self.stat = stat
        self.columns = set(columns) if columns is not None else set(rule_schema().names)

    def __call__(self, node: exp.Expr) -> ir.Value:
        return self.visit(node)

    def visit(self, node: exp.Expr) -> Any:
        """The Ibis value of ``node``; an operation its operands' types do not allow is refused
        here, at the innermost node, naming the operation and the operands with their types
        (Ibis' own message names its internal classes)."""
        try:
            return self._visit(node)
        except _TYPE_ERRORS:
            raise _Refused(
                f"the expression does not type-check: {self._type_problem(node)}", node
            ) from None

    def _type_problem(self, node: exp.Expr) -> str:
        operands: list[str] = []
        for child in node.iter_expressions():
            try:
                kind = self._visit(child).type()
            except Exception:  # this child is not the problem's cause: leave it out
                continue
            operands.append(f"{child.sql(dialect='duckdb')} ({kind})")
        operation = _OPERATOR_SIGNS.get(type(node)) or _spelt(node)
        return f"{operation} does not apply to {' and '.join(operands) or 'these operands'}"

    def _visit(self, node: exp.Expr) -> Any:
        spec = _stat_of(node)
        if spec is not None:
            return self.stat(spec)
        if isinstance(node, exp.Paren):
            return self.visit(node.this)
        if isinstance(node, exp.Column):
            return self._column(node)
        if isinstance(node, exp.Literal | exp.Boolean | exp.Null | exp.Neg):
            return self._literal(node)
        if isinstance(node, exp.And):
            return self.visit(node.this) & self.visit(node.expression)
        if isinstance(node, exp.Or):
            return self.visit(node.this) | self.visit(node.expression)
        if isinstance(node, exp.Not):
            return ~self.visit(node.this)
        if type(node) in _COMPARISONS:
            left, right = self._coerced(node.this, node.expression)
            return _COMPARISONS[type(node)](left, right)
        if type(node) in _ARITHMETIC:
            left, right = self._coerced(node.this, node.expression)
            return _ARITHMETIC[type(node)](left, right)
        if isinstance(node, exp.Is):
            return self._is(node)
        if isinstance(node, exp.In):
            return self._in(node)
        if isinstance(node, exp.Between):
            value = self.visit(node.this)
            low = self._literal_like(node.args["low"], value)
            high = self._literal_like(node.args["high"], value)
            return value.between(low, high)
        if isinstance(node, exp.Like):
            return self.visit(node.this).like(self._string_literal(node.expression, node))
        if isinstance(node, exp.ILike):
            return self.visit(node.this).ilike(self._string_literal(node.expression, node))
        if isinstance(node, exp.RegexpLike):
            return self.visit(node.this).re_search(self._regex(node.expression, node))
        if isinstance(node, exp.RegexpFullMatch):
            pattern = self._regex(node.expression, node)
            return self.visit(node.this).re_search(f"^(?:{pattern})$")
        if isinstance(node, exp.StartsWith):
            return self.visit(node.this).startswith(self._string_literal(node.expression, node))
        if isinstance(node, exp.DPipe):
            return self.visit(node.this).cast("string") + self.visit(node.expression).cast("string")
        if isinstance(node, exp.Case):
            return self._case(node)
        if isinstance(node, exp.If):
            return ibis.ifelse(
                self.visit(node.this),
                self.visit(node.args["true"]),
                self.visit(node.args["false"]) if node.args.get("false") else None,
            )
        if isinstance(node, exp.Cast):
            return self._typed_literal(node)
        if isinstance(node, exp.Interval):
            return self._interval(node)
        return self._function(node)

    # -- leaves ----------------------------------------------------------------------------
    def _column(self, node: exp.Column) -> ir.Value:
        if node.table:
            raise _Refused("columns are not qualified with a table name", node)
        name = node.name.lower()
        if name not in self.columns:
            raise _Refused(
                f"unknown column {name!r}; rules can use: {', '.join(sorted(self.columns))}"
            )
        return self.table[name]

    def _literal(self, node: exp.Expr) -> ir.Value:
        if isinstance(node, exp.Null):
            return ibis.null()
        if isinstance(node, exp.Boolean):
            return ibis.literal(bool(node.this))
        if isinstance(node, exp.Neg):
            return -self.visit(node.this)
        assert isinstance(node, exp.Literal)
        if node.is_string:
            return ibis.literal(node.this, type="string")
        text = node.this
        if re.fullmatch(r"\d+", text):
            return ibis.literal(int(text), type="int64")
        return ibis.literal(float(text), type="float64")

    def _string_literal(self, node: exp.Expr, parent: exp.Expr) -> str:
        if not isinstance(node, exp.Literal) or not node.is_string:
            raise _Refused("the pattern must be a quoted text literal", parent)
        return str(node.this)

    def _regex(self, node: exp.Expr, parent: exp.Expr) -> str:
        pattern = self._string_literal(node, parent)
        try:
            re.compile(pattern)
        except re.error as error:
            raise _Refused(f"invalid regular expression {pattern!r}: {error}", parent) from None
        return pattern

    def _typed_literal(self, node: exp.Cast) -> ir.Value:
        target = node.to.this
        inner = node.this
        if not (isinstance(inner, exp.Literal) and inner.is_string):
            raise _Refused(
                "CAST is only supported for typed literals: DATE '...', TIMESTAMP '...'", node
            )
        if target == exp.DataType.Type.DATE:
            return ibis.date(_parse_date(inner.this, node))
        if target in (
            exp.DataType.Type.TIMESTAMP,
            exp.DataType.Type.TIMESTAMPNTZ,
            exp.DataType.Type.DATETIME,
        ):
            return ibis.timestamp(_parse_timestamp(inner.this, node))
        raise _Refused("only DATE '...' and TIMESTAMP '...' literals are supported", node)

    def _interval(self, node: exp.Interval) -> ir.Value:
        amount = node.this
        unit = node.args.get("unit")
        unit_name = unit.name.upper() if unit is not None else ""
        text = amount.this if isinstance(amount, exp.Literal) else None
        if text is not None and not unit_name:
            parts = str(text).split()
            if len(parts) == 2:
                text, unit_name = parts[0], parts[1].upper()
        if text is None or not re.fullmatch(r"\d+", str(text)) or unit_name not in _INTERVAL_UNITS:
            raise _Refused(
                "intervals look like INTERVAL '1' DAY (second, minute, hour, day, week)", node
            )
        return ibis.interval(**{_INTERVAL_UNITS[unit_name]: int(text)})

    # -- composites ------------------------------------------------------------------------
    def _coerced(self, left_node: exp.Expr, right_node: exp.Expr) -> tuple[Any, Any]:
        left = self.visit(left_node)
        right = self._literal_like(right_node, left)
        if _is_text_literal(left_node):
            left = self._literal_like(left_node, right)
        return left, right

    def _literal_like(self, node: exp.Expr, other: ir.Value) -> Any:
        """A text literal compared with a date or timestamp is read as one (``'2011-01-01'``)."""
        if _is_text_literal(node) and isinstance(other, ir.Value):
            kind = other.type()
            if kind.is_timestamp():
                return ibis.timestamp(_parse_timestamp(node.this, node))
            if kind.is_date():
                return ibis.date(_parse_date(node.this, node))
        return self.visit(node)

    def _is(self, node: exp.Is) -> ir.Value:
        value = self.visit(node.this)
        target = node.expression
        if isinstance(target, exp.Null):
            return value.isnull()
        if isinstance(target, exp.Boolean):
            return (value == bool(target.this)).fill_null(False)
        raise _Refused("IS takes NULL, TRUE or FALSE", node)

    def _in(self, node: exp.In) -> ir.Value:
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            raise _Refused("IN takes a list of literals", node)
        value = self.visit(node.this)
        options = []
        for item in node.expressions:
            if not isinstance(item, exp.Literal | exp.Neg | exp.Null | exp.Boolean):
                raise _Refused("IN takes a list of literals", node)
            options.append(self._literal_like(item, value))
        return value.isin(options)

    def _case(self, node: exp.Case) -> ir.Value:
        if node.this is not None:
            raise _Refused("use the searched form CASE WHEN condition THEN ... END", node)
        branches = [(self.visit(i.this), self.visit(i.args["true"])) for i in node.args["ifs"]]
        default = node.args.get("default")
        return ibis.cases(*branches, else_=self.visit(default) if default is not None else None)

    def _function(self, node: exp.Expr) -> ir.Value:
        if type(node) in _UNARY_FUNCTIONS:
            return _UNARY_FUNCTIONS[type(node)](self.visit(node.this))
        if isinstance(node, exp.Trim):
            if node.args.get("expression") is not None or node.args.get("position"):
                raise _Refused("trim takes one argument", node)
            return strip_whitespace(self.visit(node.this))
        if isinstance(node, exp.Coalesce):
            return ibis.coalesce(self.visit(node.this), *[self.visit(e) for e in node.expressions])
        if isinstance(node, exp.Nullif):
            value = self.visit(node.this)
            return value.nullif(self._literal_like(node.expression, value))
        if isinstance(node, exp.CurrentDate):
            return ibis.date(self.now.date())
        if isinstance(node, exp.CurrentTimestamp):
            return ibis.timestamp(self.now)
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            args = node.expressions
            if name in {"now", "current_timestamp"} and not args:
                return ibis.timestamp(self.now)
            if name == "is_blank" and len(args) == 1:
                return is_blank(self.visit(args[0]).cast("string"))
            if name == "regexp_matches" and len(args) == 2:
                return self.visit(args[0]).re_search(self._regex(args[1], node))
            raise _Refused(
                f"function {node.name.lower()}() is not available in rules; available: "
                f"{FUNCTIONS_HELP}",
                node,
            )
        if isinstance(node, exp.AggFunc):
            raise _Refused(
                f"{node.key.upper()} needs a window: {node.sql(dialect='duckdb')} "
                "OVER (PARTITION BY column, ...)",
                node,
            )
        if isinstance(node, exp.Func):
            raise _Refused(
                f"function {node.sql_name().lower()}() is not available in rules; available: "
                f"{FUNCTIONS_HELP}",
                node,
            )
        if isinstance(node, exp.Alias):  # `quantity IS`, `quantity foo`: a word after a value
            raise _Refused(
                f"{node.this.sql(dialect='duckdb')!r} is followed by {node.alias!r} with no "
                "operator between them (IS takes NULL, TRUE or FALSE)"
            )
        raise _Refused(
            f"{node.sql(dialect='duckdb')!r} is not allowed in a rule (columns, literals, "
            f"operators and these functions are: {FUNCTIONS_HELP})"
        )


_TYPE_ERRORS = (TypeError, ValueError, AttributeError, IbisError, ValidationError)
"""What Ibis raises when an operation does not apply to its operands' types."""

_OPERATOR_SIGNS: dict[type[exp.Expr], str] = {
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.Mod: "%",
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.And: "AND",
    exp.Or: "OR",
    exp.Not: "NOT",
    exp.Neg: "-",
    exp.DPipe: "||",
    exp.RegexpFullMatch: "~",
}


def _spelt(node: exp.Expr) -> str:
    """A function's name as DuckDB spells it (``STARTS_WITH``, not sqlglot's ``startswith``);
    another node's keyword (``BETWEEN``, ``CASE``)."""
    called = (
        re.match(r"(\w+)\(", node.sql(dialect="duckdb")) if isinstance(node, exp.Func) else None
    )
    return called.group(1) if called else node.key.upper()


def _is_text_literal(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def _parse_date(text: str, node: exp.Expr) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _Refused(f"{text!r} is not a date (YYYY-MM-DD)", node) from None


def _parse_timestamp(text: str, node: exp.Expr) -> datetime:
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=None)
    except ValueError:
        raise _Refused(f"{text!r} is not a timestamp (YYYY-MM-DD[ HH:MM[:SS]])", node) from None


# -- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its parsed expression and the statistics it needs."""

    rule: Rule
    tree: exp.Expr
    stats: tuple[StatSpec, ...]

    @property
    def name(self) -> str:
        return self.rule.name

    def passes(self, translator: Translator) -> ir.BooleanValue:
        result: ir.BooleanValue = translator(self.tree)
        return result


_STATEMENTS: tuple[type[exp.Expr], ...] = tuple(
    kind
    for name in (
        "Query",
        "DDL",
        "DML",
        "Command",
        "Drop",
        "Alter",
        "Use",
        "Set",
        "Pragma",
        "Transaction",
        "Commit",
        "Rollback",
        "Copy",
        "Describe",
        "Create",
        "Insert",
    )
    if isinstance(kind := getattr(exp, name, None), type)
)


def parse_rule(rule: Rule) -> CompiledRule:
    """Parse and statically check one rule (syntax, whitelist); raise RulesError."""
    try:
        tree = parse_one(rule.expression, read="duckdb")
    except (ParseError, TokenError) as error:
        raise _rule_error(
            rule, f"cannot read the expression: {_parse_problem(rule.expression, error)}"
        ) from None
    except RecursionError:  # sqlglot's parser recurses once per level of parentheses
        raise _rule_error(rule, _TOO_DEEP) from None
    if _depth(tree) > MAX_DEPTH:  # translated (and compiled to SQL) recursively, too
        raise _rule_error(rule, _TOO_DEEP) from None
    if isinstance(tree, exp.Block):
        raise _rule_error(rule, "one condition only, not several statements (a ';' ends one)")
    if isinstance(tree, _STATEMENTS):
        raise _rule_error(rule, "must be an expression, not a statement")
    try:
        stats = tuple(collect_stats(tree))
    except _Refused as refused:
        raise _rule_error(rule, str(refused)) from None
    return CompiledRule(rule, tree, stats)


MAX_DEPTH = 100
"""How deeply a rule's expression may nest (parentheses, operators: ``a AND b AND c`` is two
levels). Real rules nest a few levels; a deeper tree would exhaust Python's stack in the parser,
the translator or Ibis' SQL compiler, a crash instead of a refusal."""

_TOO_DEEP = (
    "the expression nests too deeply (parentheses within parentheses, some dozens deep, or "
    f"more than {MAX_DEPTH} levels of conditions and terms chained by operators); split it "
    "into several rules, or use IN (...) for a list of values"
)
"""sqlglot's parser gives up on fewer levels of parentheses (60 or fewer here) than of operators."""


def _depth(tree: exp.Expr) -> int:
    """The nesting depth of ``tree``, walked without recursion (a deep tree is the question)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node.iter_expressions())
    return deepest


def stat_type(spec: StatSpec, table: ir.Table, now: datetime) -> dt.DataType:
    """The type a statistic has (float64 for median/avg/stddev/robust_z)."""
    if spec.kind in _FLOAT_STATS:
        return dt.float64
    if spec.kind == "count":
        return dt.int64
    arg = Translator(table, now=now, stat=lambda s: ibis.null(stat_type(s, table, now)))(
        spec.arg_ast
    )
    reduced = arg.max() if spec.kind == "max" else arg.min() if spec.kind == "min" else arg.sum()
    result: dt.DataType = reduced.type()
    return result


def validate_rules(ruleset: RuleSet, *, now: datetime | None = None) -> list[CompiledRule]:
    """Compile every rule against the rule schema; the result must be boolean."""
    moment = now or datetime.now()
    table = ibis.table(rule_schema(), name="silver_lines")
    compiled: list[CompiledRule] = []
    for rule in ruleset:
        item = parse_rule(rule)

        def placeholder(spec: StatSpec) -> ir.Value:
            return ibis.null(stat_type(spec, table, moment))

        try:
            for spec in item.stats:
                arg = Translator(table, now=moment, stat=placeholder)(spec.arg_ast)
                if spec.kind in _NUMERIC_STATS and not (
                    arg.type().is_numeric() or arg.type().is_boolean()
                ):
                    # (else the engine's cast of a text to DOUBLE fails in the middle of a run)
                    raise _Refused(
                        f"the expression does not type-check: {spec.kind} needs numbers, "
                        f"not {spec.arg_ast.sql(dialect='duckdb')} ({arg.type()})"
                    )
                for column in spec.partition:
                    if column not in table.columns:
                        raise _Refused(f"unknown PARTITION BY column {column!r}")
            value = Translator(table, now=moment, stat=placeholder)(item.tree)
        except _Refused as refused:
            raise _rule_error(rule, str(refused)) from None
        except _TYPE_ERRORS as error:
            raise _rule_error(
                rule, f"the expression does not type-check: {_first_line(error)}"
            ) from None
        if not isinstance(value, ir.Value) or not value.type().is_boolean():
            kind = value.type() if isinstance(value, ir.Value) else type(value).__name__
            raise _rule_error(rule, f"must be a condition (TRUE when a line passes), got {kind}")
        compiled.append(item)
    validate_tests(ruleset.tests)
    return compiled


def validate_tests(tests: Iterable[TableTest]) -> None:
    """Every table test names a lake table and columns its contract declares (no data read)."""
    from retail_lakehouse.lake.contracts import contract

    for test in tests:

        def refuse(problem: str, test: TableTest = test) -> RulesError:
            return RulesError(f"{test.source}: test {test.name!r}: {problem}")

        for table, column in ((test.table, test.column), (test.to_table, test.to_column)):
            if table is None:
                continue
            try:
                schema = contract(table).schema
            except KeyError:
                raise refuse(f"unknown table {table!r}") from None
            if column is not None and column not in schema.names:
                known = ", ".join(n for n in schema.names if not n.startswith("_"))
                raise refuse(f"{table} has no column {column!r}; its columns: {known}")


def _parse_problem(text: str, error: ParseError | TokenError) -> str:
    """What sqlglot could not read in ``text``, in the rule writer's words, and where (line and
    column of the expression, when sqlglot says). Its own messages name its classes
    ("Required keyword: 'expression' missing for <class 'sqlglot.expressions.core.GT'>")."""
    if isinstance(error, TokenError):  # the tokenizer says no position: an open quote, mostly
        quote = _unclosed_quote(text)
        if quote is None:
            return "it cannot be split into words, numbers and quoted texts"
        mark, at = quote
        kind = "text" if mark == "'" else "name"
        return (
            f"the quoted {kind} starting at {_where(text, at)} is not closed (a {mark} is missing)"
        )
    found = error.errors[0] if error.errors else {}
    said = str(found.get("description") or _first_line(error))
    token = str(found.get("highlight") or "")
    end = found.get("col")
    where = ""
    if isinstance(end, int) and isinstance(found.get("line"), int):
        offset = _offset(text, int(found["line"]), end - len(token) + 1)
        where = f" ({_where(text, offset)} of {_excerpt(text)})"
    if said.startswith("Required keyword"):
        if "Between" in said:
            return f"BETWEEN needs a low and a high value: x BETWEEN 1 AND 9{where}"
        return f"something is missing after {token!r}{where}"
    if said == "Expecting )":
        if not found.get("end_context"):
            return f"a '(' is not closed{where}"
        return f"expected ')' before {token!r}{where}"
    if said.startswith("Invalid expression / Unexpected token"):
        return f"unexpected {token!r}{where}"
    return re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", said) + where


def _unclosed_quote(text: str) -> tuple[str, int] | None:
    """The quote character and offset of a quoted text or name that is never closed (SQL
    doubles a quote inside one: ``'it''s'``)."""
    opened: tuple[str, int] | None = None
    for at, char in enumerate(text):
        if opened is None:
            if char in "'\"":
                opened = (char, at)
        elif char == opened[0]:
            opened = None  # a doubled quote closes and reopens: the same state at the end
    return opened


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(part) + 1 for part in lines[: line - 1]) + max(column, 1) - 1


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}" if "\n" in text.strip() else f"column {column}"


def _excerpt(text: str, width: int = 80) -> str:
    flat = text.strip()
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def _rule_error(rule: Rule, problem: str) -> RulesError:
    return RulesError(f"{rule.source}: rule {rule.name!r}: {problem}")


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
