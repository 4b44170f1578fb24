"""Compiled SQL kept across processes, so a run does not compile the same statements again.

Compiling Ibis expressions to SQL is a fixed cost of every ``retail run``: about 0.5 CPU-s for
the 45 statements of a 1% append (a sixth of the run; two thirds of it Ibis' own graph
rewrites, the rest sqlglot), the same whether the append has 5,000 lines or the lake 5
million (decision 0020, eighth round). An append's statements are the same every day except
for a few constants (the batch watermark, the first touched month or day, the as-of date), so
the SQL is kept as a template keyed by the expression with those constants left out, and
filled with the day's constants.

**What the key holds.** The SQL is a function of the expression and of the compiler alone, so
the key is a SHA-256 of

- the compiler: the versions of Ibis, sqlglot and Python, Ibis' ``fuse_selects`` option, the
  dialect, and the source text of this module and of :mod:`retail_lakehouse.engines.duckdb`
  (which post-processes the SQL and defines the engine's built-in functions);
- the whole expression graph, node by node: each operation's class and every argument
  (column names, types, table names and schemas, every constant; for a user-defined function
  its SQL name and result type), so a changed rule set, contract or transformation is another
  key. Nothing is left out except the backend object a table belongs to (a connection, not
  part of the SQL) and the *values* of the constants that are slots (below); an argument of
  a type this module does not know makes the expression uncacheable (compiled as before),
  never a guess.

**Slots.** A constant is a slot only where it is an operand of a comparison, a range, a list
membership, date or number arithmetic, ``if`` or ``coalesce`` (:data:`_SLOT_ARGS`), or a
selected text, date or timestamp column (:func:`_slot_arg`): those compile their operands
without looking at them, so the constant's SQL is exactly the compiler's rendering of the
literal. A constant used anywhere else as well (a substring's length, a window bound, an
array index, a format string, a date part: compilers and rewrites read those values) is part
of the key with its value, also when used through a column that selects it (Ibis inlines the
constant there: :func:`_column_literals`). Equal constants share a slot, and the key records
which slots are equal, so a template is only reused for the same pattern. The template is
compiled with each slot replaced by a placeholder operation; before it is stored it is filled
with the constants it was compiled for and must give exactly the SQL of the expression itself (both
are compiled on a miss), so a template that does not reproduce the compiler's output is
never kept, and one Ibis or sqlglot cannot build with placeholders (a date column compared
with a text constant) is not stored either.

**Where.** ``$RETAIL_SQL_CACHE`` (``off`` turns it off), else
``$XDG_CACHE_HOME/retail-lakehouse/sql`` (``~/.cache`` without it): one file per key, written
to a temporary name and renamed, its first line a SHA-256 of the rest (a damaged file is a
miss). Nothing in it is specific to a lake: the tables are named by the engine's views. The
folder is trimmed to its most recent :data:`KEEP` files when a process first writes past
:data:`LIMIT`. A folder that cannot be written to only means compiling, never a failure;
one that is not the user's own or that others may write to is not used at all (its templates
would be run as SQL), and the folders the cache creates are private (``0700``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import hashlib
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datashape as ds
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.schema as sch
import ibis.expr.types as ir
import sqlglot
import sqlglot.errors
from ibis.common.exceptions import IbisError
from ibis.common.graph import Node

LIMIT = 4000
"""Files in the cache folder past which a process trims it (a run stores about 50)."""

SCRATCH_AGE = 3600
"""Seconds after which a scratch file is taken for one a killed process left behind."""

KEEP = 2000
"""Files kept (the most recently written) when the folder is trimmed."""

_OPERANDS = ("left", "right")
_SLOT_ARGS: dict[type[Node], tuple[str, ...]] = {
    **{
        kind: _OPERANDS
        for kind in (
            ops.Equals,
            ops.NotEquals,
            ops.Greater,
            ops.GreaterEqual,
            ops.Less,
            ops.LessEqual,
            ops.Add,
            ops.Subtract,
            ops.Multiply,
            ops.DateAdd,
            ops.DateSub,
            ops.DateDiff,
            ops.TimestampAdd,
            ops.TimestampSub,
            ops.TimestampDiff,
            ops.DateDelta,
            ops.TimestampDelta,
        )
    },
    ops.Between: ("arg", "lower_bound", "upper_bound"),
    ops.InValues: ("value", "options"),
    ops.IfElse: ("true_expr", "false_null_expr"),
    ops.Coalesce: ("arg",),
}
"""The operands whose constants are compiled as the literal alone: Ibis writes these as infix
operators (its ``BINARY_INFIX_OPS``), ``date_diff``'s two dates (not its unit), ``BETWEEN``,
``IN``, ``if``'s two results and ``coalesce`` from the operands' SQL, and no rewrite or
compiler rule reads such an operand's value."""


def _slot_arg(parent: Node, name: str, literal: ops.Literal) -> bool:
    """Whether ``literal``, argument ``name`` of ``parent``, may be a slot: an operand of
    :data:`_SLOT_ARGS`, or a selected text, date or timestamp column (a run's id, its clock;
    Ibis may move such a column's value into the operations that use it, so integers, which
    compilers read as substring lengths or indexes, stay in the key)."""
    if literal.value is None:
        return False
    if name in _SLOT_ARGS.get(type(parent), ()):
        return True
    if isinstance(parent, ops.Project) and name == "values":
        kind = literal.dtype
        return bool(kind.is_string() or kind.is_timestamp() or kind.is_date())
    return False


_TOKEN = re.compile(r"\$__retail_slot_(\d+)__")


class Slot(ops.Value):  # type: ignore[misc]
    """A constant left out of a template: the engine's compiler renders it as the
    placeholder :func:`placeholder` names."""

    index: int
    dtype: dt.DataType

    shape = ds.scalar


class _Uncacheable(Exception):
    """The expression holds an argument this module cannot key faithfully."""


_CLASS_NAMES: dict[type[Node], str] = {}


def _class_name(node: Node) -> str:
    """The operation's class; for a user-defined function also what its class (not its
    arguments) tells the compiler: the SQL function's name and namespace, the kind of function
    and its result type."""
    kind = type(node)
    found = _CLASS_NAMES.get(kind)
    if found is None:
        found = f"{kind.__module__}.{kind.__qualname__}"
        if isinstance(node, (ops.ScalarUDF, ops.AggUDF)):
            found += (
                "["
                + ";".join(
                    repr(getattr(kind, attribute, None))
                    for attribute in (
                        "__func_name__",
                        "__udf_namespace__",
                        "__input_type__",
                        "dtype",
                    )
                )
                + "]"
            )
        _CLASS_NAMES[kind] = found
    return found


def _leaf(value: Any) -> str:
    """A deterministic text for an argument that is not an operation."""
    if value is None:
        return "n"
    if isinstance(value, bool):
        return f"b{value}"
    if isinstance(value, int):
        return f"i{value}"
    if isinstance(value, float):
        return f"f{value!r}"
    if isinstance(value, str):
        return f"s{value!r}"
    if isinstance(value, (bytes, decimal.Decimal, _dt.datetime, _dt.date, _dt.time)):
        return f"{type(value).__name__}{value!r}"
    if isinstance(value, (_dt.timedelta, uuid.UUID)):
        return f"{type(value).__name__}{value!r}"
    if isinstance(value, enum.Enum):
        return f"e{type(value).__qualname__}.{value.name}"
    if isinstance(value, dt.DataType):
        return f"t{value!r}"
    if isinstance(value, sch.Schema):
        return "S{" + ",".join(f"{k!r}:{v!r}" for k, v in value.items()) + "}"
    if isinstance(value, ops.Namespace):
        return f"N{value.catalog!r}.{value.database!r}"
    raise _Uncacheable(type(value).__qualname__)


class Fingerprint:
    """An expression's key text and its slotted constants, in slot order."""

    def __init__(self, root: Node) -> None:
        order = _post_order(root)
        slottable = _slottable_literals(order)
        self.slots: list[ops.Literal] = []
        slot_of: dict[Node, int] = {}
        index: dict[Node, int] = {}
        lines: list[str] = []

        def arg(value: Any) -> str:
            if isinstance(value, Node):
                if value in slot_of:
                    return f"${slot_of[value]}"
                return f"#{index[value]}"
            if isinstance(value, (tuple, list)):
                return "(" + ",".join(arg(item) for item in value) + ")"
            if isinstance(value, (frozenset, set)):
                return "{" + ",".join(sorted(arg(item) for item in value)) + "}"
            if isinstance(value, Mapping) and not isinstance(value, sch.Schema):
                return "{" + ",".join(f"{key!r}:{arg(item)}" for key, item in value.items()) + "}"
            return _leaf(value)

        for node in order:
            if node in slottable:
                slot_of[node] = len(self.slots)
                self.slots.append(node)
                continue
            index[node] = len(lines)
            parts = [
                f"{name}={'backend' if isinstance(value, ibis.BaseBackend) else arg(value)}"
                for name, value in zip(node.__argnames__, node.__args__, strict=True)
            ]
            lines.append(_class_name(node) + "(" + ";".join(parts) + ")")
        lines.extend(f"${number}:{lit.dtype!r}" for number, lit in enumerate(self.slots))
        self.text = "\n".join(lines)


def _post_order(root: Node) -> list[Node]:
    """Every node once, children before parents, in the arguments' order (deterministic)."""
    seen: set[Node] = set()
    order: list[Node] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.__children__) if child not in seen)
    return order


def _nodes_in(value: Any) -> list[Node]:
    """The operations an argument holds, inside any nesting of collections (as Ibis' own
    traversal finds them: a literal must not escape the check of where it is used)."""
    if isinstance(value, Node):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (tuple, list, frozenset, set)):
        return [node for item in value for node in _nodes_in(item)]
    return []


def _column_literals(relation: Node, name: str) -> list[ops.Literal]:
    """The constants column ``name`` of ``relation`` may be: Ibis' rewrites put a selected
    constant in place of the columns that refer to it (a format, a pattern, a sort key), so
    each such use must be checked as a use of the constant. Any relation with a parent is
    assumed to pass the parent's column on (more constants found only means fewer slots)."""
    found: list[ops.Literal] = []
    stack: list[tuple[Node, str]] = [(relation, name)]
    while stack:
        rel, column = stack.pop()
        value = None
        if isinstance(rel, (ops.Project, ops.JoinChain)):
            value = rel.values.get(column)
        elif isinstance(rel, ops.Aggregate):
            value = rel.groups.get(column)
        for parent in ("parent", "left", "right"):
            if value is None and isinstance(getattr(rel, parent, None), ops.Relation):
                stack.append((getattr(rel, parent), column))
        if isinstance(value, ops.Literal):
            found.append(value)
        elif isinstance(value, ops.Field):
            stack.append((value.rel, value.name))
    return found


def _slottable_literals(order: list[Node]) -> set[Node]:
    """Literals that may be slots wherever they are used (:func:`_slot_arg`), directly or
    through a column selected as the constant (:func:`_column_literals`)."""
    candidates: set[Node] = set()
    pinned: set[Node] = set()
    for node in order:
        for name, value in zip(node.__argnames__, node.__args__, strict=True):
            for child in _nodes_in(value):
                if isinstance(child, ops.Literal):
                    literals = [child]
                elif isinstance(child, ops.Field):
                    literals = _column_literals(child.rel, child.name)
                else:
                    continue
                for literal in literals:
                    (candidates if _slot_arg(node, name, literal) else pinned).add(literal)
    return candidates - pinned


def placeholder(number: int) -> str:
    """The name of slot ``number``'s placeholder; DuckDB's dialect writes it ``$name``."""
    return f"__retail_slot_{number}__"


def fill(template: str, values: list[str]) -> str:
    """The template with each slot's placeholder replaced by its constant's SQL."""
    return _TOKEN.sub(lambda match: values[int(match.group(1))], template)


class SQLCache:
    """Compiled SQL by expression key; ``compile_`` does the actual compiling."""

    def __init__(
        self,
        compile_: Callable[[ir.Table], str],
        render: Callable[[ops.Literal], str],
        salt: str,
        folder: Path | None,
    ) -> None:
        self._compile = compile_
        self._render = render
        self._folder = folder
        self._salt = salt
        self._trimmed = False
        self._writable: bool | None = None
        self._private: bool | None = None
        self.hits = 0
        self.misses = 0

    def sql(self, expr: ir.Table) -> str:
        """The SQL of ``expr``: filled from a stored template, or compiled (and stored)."""
        if self._folder is None:
            return self._compile(expr)
        if self._private is None:
            self._private = _private_folder(self._folder)
        if not self._private:
            self.misses += 1
            return self._compile(expr)
        try:
            found = Fingerprint(expr.op())
        except _Uncacheable:
            return self._compile(expr)
        key = hashlib.sha256(f"{self._salt}\n{found.text}".encode()).hexdigest()
        path = self._folder / key[:2] / f"{key}.sql"
        template = _read(path)
        if template is not None:
            self.hits += 1
            return fill(template, [self._render(lit) for lit in found.slots])
        self.misses += 1
        actual = self._compile(expr)
        if not self._can_write():
            return actual
        template = actual
        if found.slots:
            replacements = {
                lit: Slot(index=number, dtype=lit.dtype) for number, lit in enumerate(found.slots)
            }
            try:
                template = self._compile(expr.op().replace(replacements).to_expr())
            except (IbisError, sqlglot.errors.SqlglotError):
                return actual  # Ibis or sqlglot needs the constant itself (a date as text)
            if fill(template, [self._render(lit) for lit in found.slots]) != actual:
                return actual  # not reproduced exactly: never stored
        self._write(path, template)
        return actual

    def _can_write(self) -> bool:
        """Whether the folder can take new templates, asked once per process: a template is a
        second compilation, not worth making when it cannot be kept (a read-only home)."""
        if self._writable is None:
            assert self._folder is not None
            try:
                self._folder.mkdir(parents=True, exist_ok=True)
                self._writable = os.access(self._folder, os.W_OK)
            except OSError:
                self._writable = False
        return self._writable

    def _write(self, path: Path, template: str) -> None:
        assert self._folder is not None
        body = template.encode()
        data = hashlib.sha256(body).hexdigest().encode() + b"\n" + body
        scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            scratch.write_bytes(data)
            os.replace(scratch, path)
            if not self._trimmed:
                self._trimmed = True
                _trim(self._folder)
        except OSError:
            scratch.unlink(missing_ok=True)


def _private_folder(folder: Path) -> bool:
    """Whether ``folder`` (created private if missing) is the user's own and only theirs: its
    templates are run as SQL, which in DuckDB reads and writes files, so a folder another user
    can write to (``RETAIL_SQL_CACHE=/tmp/shared``, made by them) must not choose what runs."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        found = folder.stat()
    except OSError:
        return False
    if not hasattr(os, "geteuid"):  # Windows: no owner and mode bits to check
        return True
    return found.st_uid == os.geteuid() and not found.st_mode & 0o022


def _read(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, _, body = data.partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:  # a matching checksum over bytes no compile wrote: a miss
        return None


def _trim(folder: Path) -> None:
    """Keep the :data:`KEEP` most recently written files once there are more than
    :data:`LIMIT` (a rule set edited daily leaves old templates behind), and remove scratch
    files older than :data:`SCRATCH_AGE` seconds (left by a process killed mid-write)."""
    stale = time.time() - SCRATCH_AGE
    for scratch in folder.glob("*/.*.tmp"):
        try:
            if scratch.stat().st_mtime < stale:
                scratch.unlink(missing_ok=True)
        except OSError:
            continue
    files = list(folder.glob("*/*.sql"))
    if len(files) <= LIMIT:
        return
    dated = []
    for file in files:
        try:
            dated.append((file.stat().st_mtime, file))
        except OSError:
            continue
    dated.sort(reverse=True)
    for _mtime, file in dated[KEEP:]:
        file.unlink(missing_ok=True)


def cache_folder() -> Path | None:
    """``$RETAIL_SQL_CACHE`` (``off``: none), else the user's cache folder."""
    chosen = os.environ.get("RETAIL_SQL_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in {"", "off", "0", "false", "no"} else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home folder to be found
            return None
    return Path(base) / "retail-lakehouse" / "sql"


def compiler_salt(dialect: str, *sources: Path) -> str:
    """Everything besides the expression that decides its SQL (see the module)."""
    parts = [
        f"ibis {ibis.__version__}",
        f"sqlglot {getattr(sqlglot, '__version__', '?')}",
        f"python {sys.version_info[0]}.{sys.version_info[1]}",
        f"fuse_selects {ibis.options.sql.fuse_selects}",
        f"dialect {dialect}",
    ]
    for source in (Path(__file__), *sources):
        parts.append(hashlib.sha256(source.read_bytes()).hexdigest())
    return "\n".join(parts)
