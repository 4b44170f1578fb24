"""The default engine: Ibis on embedded DuckDB, reading Delta snapshots as Parquet files."""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow as pa
import sqlglot.expressions as sge
from ibis.backends.sql.compilers.duckdb import DuckDBCompiler

from retail_lakehouse.engines import sql_cache
from retail_lakehouse.engines.base import Engine, decimal_from_float_sql
from retail_lakehouse.lake import Lake, arrays
from retail_lakehouse.lake.contracts import TableContract
from retail_lakehouse.lake.location import data_files
from retail_lakehouse.lake.query import duckdb_type, snapshot_relation_sql
from retail_lakehouse.lake.store import DUCKDB_PARQUET_OPTIONS, ROW_GROUP_ROWS


@ibis.udf.scalar.builtin(name="try_strptime")  # type: ignore[untyped-decorator]
def _try_strptime(value: str, fmt: str) -> datetime:  # type: ignore[empty-body]
    """DuckDB's own non-raising parser."""


@ibis.udf.scalar.builtin(name="make_timestamp")  # type: ignore[untyped-decorator]
def _timestamp_from_micros(microseconds: int) -> datetime:  # type: ignore[empty-body]
    """DuckDB's ``make_timestamp(microseconds since the epoch)``: a TIMESTAMP, no zone."""


_INSTANT = dt.Timestamp(timezone="UTC")


@ibis.udf.scalar.builtin(name="timezone")  # type: ignore[untyped-decorator]
def _as_instant(zone: str, wall: datetime) -> _INSTANT:  # type: ignore[valid-type]
    """DuckDB's (ICU's) ``timezone(zone, TIMESTAMP)``: the instant ``zone``'s clock shows."""


@ibis.udf.scalar.builtin(name="timezone")  # type: ignore[untyped-decorator]
def _wall_clock(zone: str, instant: _INSTANT) -> datetime:  # type: ignore[empty-body,valid-type]
    """DuckDB's (ICU's) ``timezone(zone, TIMESTAMPTZ)``: ``zone``'s clock at an instant."""


_HEAVY = (sge.AggFunc, sge.Window, sge.Join, sge.SetOperation, sge.Distinct, sge.Group, sge.Rand)
"""Nodes that make a CTE worth computing once (or unsafe to compute twice: ``random()``)."""

WIDE_ROWS = 1_000_000
"""Silver lines kept as a temporary table below this count (about 0.4 GB in DuckDB's layout,
well inside the pool: no spill, and no Parquet to encode and decode), as a file above it."""

DEFAULT_MEMORY_LIMIT = "1GB"
"""DuckDB's buffer pool when neither the caller nor ``RETAIL_DUCKDB_MEMORY_LIMIT`` says."""


class _Compiler(DuckDBCompiler):  # type: ignore[misc]
    """Ibis' DuckDB compiler, plus the placeholder of a cached template's constant."""

    def visit_Slot(self, op: sql_cache.Slot, **_kwargs: object) -> sge.Expression:  # noqa: N802 - Ibis' visitor name
        return sge.Placeholder(this=sql_cache.placeholder(op.index))


_COMPILER = _Compiler()
_CACHES: list[sql_cache.SQLCache] = []
"""The process's cache of compiled SQL, made on first use (empty until then)."""


def _sql_cache() -> sql_cache.SQLCache:
    """The process's cache of compiled SQL (:mod:`retail_lakehouse.engines.sql_cache`); no
    folder (compiling every time) when none is configured or this module's source cannot be
    read for the key."""
    if not _CACHES:
        folder = sql_cache.cache_folder()
        salt = ""
        if folder is not None:
            try:
                salt = sql_cache.compiler_salt(_COMPILER.dialect.__name__, Path(__file__))
            except OSError:
                folder = None
        _CACHES.append(sql_cache.SQLCache(_compile_fresh, _literal_sql, salt, folder))
    return _CACHES[0]


def _literal_sql(literal: ops.Literal) -> str:
    """A constant's SQL, exactly as the compiler writes it inside a statement."""
    node = _COMPILER.visit_Literal(literal, value=literal.value, dtype=literal.dtype)
    text: str = node.sql(dialect=_COMPILER.dialect)
    return text


def _compile_fresh(expr: ir.Table) -> str:
    """The expression's SQL, with every CTE that only filters or projects inlined.

    Ibis names each relation a query uses more than once as a CTE, and DuckDB materialises
    such CTEs: a filter of silver read by three aggregates of ``dim_product`` became a
    20-million-row buffer written and scanned again (14 s of 23 at 20 million lines). A
    CTE without aggregate, window, join, set operation, DISTINCT or random function is
    cheaper to recompute where it is used (a scan with a filter) than to buffer, so it is
    marked ``NOT MATERIALIZED``; the others keep DuckDB's choice.

    The columns of ``* EXCLUDE (...)`` are sorted: Ibis writes them in the order of a
    ``frozenset``, which changes from process to process (string hashing), and the cache of
    compiled SQL compares a template with the statement it was made from."""
    query = _COMPILER.to_sqlglot(expr)
    for cte in query.find_all(sge.CTE):
        if not any(cte.this.find_all(*_HEAVY)):
            cte.set("materialized", False)
    for star in query.find_all(sge.Star):
        for arg in ("except", "except_"):  # the name differs between sqlglot versions
            excluded = star.args.get(arg)
            if excluded:
                star.set(arg, sorted(excluded, key=lambda column: column.sql()))
    sql: str = query.sql(dialect=_COMPILER.dialect, copy=False)
    return sql


def _connect() -> ibis.BaseBackend:
    """An Ibis DuckDB backend on a new in-memory database: ``ibis.duckdb.connect()`` without
    the lookup behind ``ibis.duckdb``, which reads the entry points of every installed
    distribution to find the backend's module (150 distributions here; opening the engine
    took 0.018-0.031 CPU-s instead of 0.024-0.036, 5 alternations in fresh processes at load
    17-20). Ibis' ``load_backend`` does the same after that lookup (it also registers the
    backend's options, which DuckDB's backend has none of)."""
    from ibis.backends.duckdb import Backend

    backend: ibis.BaseBackend = Backend().connect()
    return backend


class DuckDBEngine(Engine):
    """Ibis over an in-memory DuckDB database that spills to a temporary folder."""

    name = "duckdb"

    def __init__(self, lake: Lake, *, memory_limit: str | None = None) -> None:
        super().__init__(lake)
        self._tmp = tempfile.TemporaryDirectory(prefix="retail-duckdb-")
        self._con = _connect()
        raw = self._con.con
        raw.execute("SET TimeZone = 'UTC'")
        raw.execute(f"SET temp_directory = '{self._tmp.name}'")
        raw.execute("SET preserve_insertion_order = false")
        # Bounded by default so big batches spill to the temp folder instead of growing the
        # process (10M lines of silver peak at 2.2 GB RSS with 1 GB here, 8 GB without).
        limit = memory_limit or os.environ.get("RETAIL_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
        raw.execute(f"SET memory_limit = '{limit}'")
        self._ids = itertools.count()

    @property
    def backend(self) -> ibis.BaseBackend:
        return self._con

    def table(self, qualified: str, version: int | None = None) -> ir.Table:
        view = f"lake_{qualified.replace('.', '__')}_{next(self._ids)}"
        dt_ = self.lake.delta(qualified, version)
        files = data_files(dt_) if dt_ is not None else []
        self.versions[qualified] = dt_.version() if dt_ is not None else None
        if files:
            self._con.con.execute(
                f'CREATE OR REPLACE VIEW "{view}" AS SELECT * FROM {snapshot_relation_sql(files)}'
            )
            return self._created(view)
        return self.arrow_table(arrays.empty_table(self.lake.arrow_schema(qualified)), view)

    def arrow_table(self, data: pa.Table, name: str) -> ir.Table:
        """A temporary table copied from ``data`` through the Arrow C stream interface. Handed
        the ``pa.Table`` itself (as Ibis' ``create_table`` does), DuckDB imports
        ``pyarrow.dataset`` to scan it, and that imports pandas (0.2 s of every run)."""
        raw = self._con.con
        source = f"_arrow_{name}"
        raw.from_arrow(data.__arrow_c_stream__()).create_view(source, replace=True)
        try:
            raw.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM "{source}"')
        finally:
            raw.execute(f'DROP VIEW IF EXISTS "{source}"')
        return self._created(name)

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        """The expression's rows, shaped to its Ibis schema as Ibis' ``to_pyarrow`` shapes
        them, without the result converter of Ibis' DuckDB backend (its module imports
        pandas: 0.2 s of every run)."""
        from ibis.formats.pyarrow import PyArrowData

        result = self._con.con.execute(self._compile(expr)).to_arrow_table()
        table: pa.Table = PyArrowData.convert_table(result, expr.schema())
        return table

    def materialize(self, expr: ir.Table, name: str) -> ir.Table:
        """One ``CREATE TEMP TABLE ... AS``: Ibis' ``create_table(overwrite=True)`` inserts
        into a scratch table and then copies it (a third of a second for silver's lines)."""
        sql = self._compile(expr)
        self._con.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')
        return self._created(name)

    def materialize_wide(self, expr: ir.Table, name: str, *, rows: int | None = None) -> ir.Table:
        """Past :data:`WIDE_ROWS` lines (or an unknown count), a Snappy Parquet file in the
        engine's temporary folder, read back through a view; below it a temporary table.

        A temporary table of 20 million standardised lines is about 8 GB in DuckDB's
        uncompressed in-memory layout: past the 1 GB pool it is spilled to disk block by block
        and read back the same way (10 GB written per ``retail run``). The same lines as
        Parquet are 0.75 GB, written on both cores, and the queries that read them back take
        only their own columns. At 20 million lines the statement and its three readers cost
        114 CPU-s instead of 132 and peak 0.8 GB lower (decision 0011, fourth round)."""
        if rows is not None and rows < WIDE_ROWS:
            return self.materialize(expr, name)
        location = str(Path(self._tmp.name) / f"{name}.parquet").replace("'", "''")
        sql = self._compile(expr)
        raw = self._con.con
        raw.execute(
            f"COPY ({sql}) TO '{location}' (FORMAT parquet, COMPRESSION snappy, "
            f"ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
        )
        raw.execute(f"CREATE OR REPLACE TEMP VIEW \"{name}\" AS SELECT * FROM '{location}'")
        return self._created(name)

    @contextlib.contextmanager
    def serial(self, few: bool) -> Iterator[None]:
        """``SET threads = 1`` for the block when ``few``, then DuckDB's default again.

        An append's statements each handle a few thousand rows (5,419 new lines: 2,107 products,
        4,398 customers), where a second worker costs more than it does: every statement hands
        its pipelines to the worker and waits for it, and the small group-bys and windows are
        finalised partition by partition on both threads. Measured on the benchmark's 1%
        append (decision 0020, eleventh round): ``dim_product``'s statement 0.070 -> 0.045 CPU-s
        alone, the whole ``retail run`` about 0.15 CPU-s less on both the 541,909- and the
        5,000,000-line lake. A pass over many lines keeps both threads (the scans and the
        Parquet encoding are parallel per row group)."""
        raw = self._con.con
        if not few:
            yield
            return
        raw.execute("SET threads = 1")
        try:
            yield
        finally:
            raw.execute("RESET threads")

    def view(self, expr: ir.Table, name: str) -> ir.Table:
        sql = self._compile(expr)
        self._con.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql}')
        return self._created(name)

    def _created(self, name: str) -> ir.Table:
        """The temporary table or view ``name`` this engine just created, as an Ibis table.

        Ibis' ``table()`` asks DuckDB a ``DESCRIBE`` built through sqlglot and parses every
        column's type text again (1.4 ms a call; an append's run made 36 of them). DuckDB's
        relation already knows the names and types, and a type's text is parsed once per
        process. Every column is nullable, as ``DESCRIBE`` says of anything created by
        ``CREATE ... AS`` and of a view over Parquet files. :meth:`table` uses it too (a lake
        table's view: 4-5 ms a call through Ibis, 1 ms this way, 15 calls in an append's run;
        ``tests/integration/test_engine_lake_tables.py`` compares both schemas for every table
        a run writes)."""
        relation = self._con.con.sql(f'SELECT * FROM "{name}"')  # bound, not run
        schema = ibis.Schema(
            {
                column: _ibis_type(self._con, str(type_))
                for column, type_ in zip(relation.columns, relation.types, strict=True)
            }
        )
        return ops.DatabaseTable(
            name, schema=schema, source=self._con, namespace=ops.Namespace()
        ).to_expr()

    def write_parquet(self, expr: ir.Table, target: TableContract, path: Path) -> None:
        """``COPY ... TO``: DuckDB encodes the Parquet on every core from its own vectors (half
        the cost of exporting the rows to Arrow and encoding them again), each column cast to
        the contract's type."""
        sql = self._compile(expr)
        produced = expr.schema().to_pyarrow()
        columns = ", ".join(_conformed(f, produced) for f in target.schema)
        location = str(path).replace("'", "''")
        self._con.con.execute(
            f"COPY (SELECT {columns} FROM ({sql})) TO '{location}' ({DUCKDB_PARQUET_OPTIONS})"
        )

    def _compile(self, expr: ir.Table) -> str:
        """The expression's SQL (:func:`_compile_fresh`), from the cache of compiled SQL when
        an earlier process compiled the same expression (decision 0020, eighth round)."""
        return _sql_cache().sql(expr)

    def try_timestamp(self, value: ir.StringValue, strftime_format: str) -> ir.TimestampValue:
        result: ir.TimestampValue = _try_strptime(value, strftime_format)
        return result

    def timestamp_from_seconds(self, seconds: ir.IntegerValue) -> ir.TimestampValue:
        """``make_timestamp`` instead of Ibis' ``to_timestamp``: the latter returns a zoned
        timestamp, which turned the whole ``invoice_ts`` column zoned and made every later use
        (the line key, the Parquet cast) convert each line back through the time-zone library
        (a tenth of a second per use at 541,909 lines)."""
        result: ir.TimestampValue = _timestamp_from_micros(seconds * 1_000_000)
        return result

    def wall_clock(self, utc: ir.TimestampValue, zone: str) -> ir.TimestampValue:
        result: ir.TimestampValue = _wall_clock(zone, _as_instant("UTC", utc))
        return result

    def hex_to_int(self, value: ir.StringValue) -> ir.IntegerValue:
        result: ir.IntegerValue = ibis.literal("0x").concat(value).cast("int64")
        return result

    def close(self) -> None:
        self._con.disconnect()
        self._tmp.cleanup()


_TYPES: dict[str, dt.DataType] = {}


def _ibis_type(backend: ibis.BaseBackend, text: str) -> dt.DataType:
    """Ibis' nullable type for DuckDB's type ``text``, parsed once per process."""
    found = _TYPES.get(text)
    if found is None:
        found = _TYPES[text] = backend.compiler.type_mapper.from_string(text, nullable=True)
    return found


def _conformed(field: pa.Field, produced: pa.Schema) -> str:
    """A select item giving ``field`` its contract type; a cast only where the type differs
    (a no-op cast is not free: a fifth of the cost of writing silver)."""
    name = f'"{field.name}"'
    if field.name in produced.names and produced.field(field.name).type == field.type:
        return name
    if (
        field.name in produced.names
        and pa.types.is_floating(produced.field(field.name).type)
        and pa.types.is_decimal(field.type)
    ):
        return f"{decimal_from_float_sql(name, field.type)} AS {name}"
    return f"CAST({name} AS {duckdb_type(field.type)}) AS {name}"
