"""The engine interface: where Ibis expressions are executed.

Silver and gold are written once as Ibis expressions over the tables an engine hands out; the
engine decides where they run (embedded DuckDB by default, PySpark for clusters). The few
operations Ibis cannot express portably live here, one method each, so no transformation needs
to know which engine it runs on.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts import TableContract

if TYPE_CHECKING:
    from retail_lakehouse.config import Settings


FEW_LINES = 50_000
"""An incremental pass over fewer new lines than this runs on one thread
(:meth:`Engine.serial`). Measured at 5,419 lines (the benchmark's 1% append), where one thread
cost 8% less CPU for the whole ``retail run`` (on a loaded machine; a quiet machine's wall time
was not measured); not measured near the bound, which only keeps passes that scan much (a
first load, a large file) on every core."""


class Engine(ABC):
    """Executes Ibis expressions over one lake."""

    name: str

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.versions: dict[str, int | None] = {}

    @property
    @abstractmethod
    def backend(self) -> ibis.BaseBackend:
        """The Ibis backend expressions are compiled for."""

    @abstractmethod
    def table(self, qualified: str, version: int | None = None) -> ir.Table:
        """A lake table as an Ibis table over one committed snapshot (empty when missing)."""

    @abstractmethod
    def arrow_table(self, data: pa.Table, name: str) -> ir.Table:
        """Make an in-memory Arrow table usable in expressions on this engine."""

    @contextlib.contextmanager
    def serial(self, few: bool) -> Iterator[None]:
        """Run the block's statements on one thread when ``few`` (an append's pass, whose
        statements each handle thousands of rows); the engine's own parallelism otherwise and
        after the block. Engines without such a setting ignore it."""
        yield

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        """Execute an expression and collect the result."""
        result: pa.Table = self.backend.to_pyarrow(expr)
        return result

    def to_batches(self, expr: ir.Table, chunk_size: int = 1_000_000) -> pa.RecordBatchReader:
        """Execute an expression and stream the result in bounded memory."""
        reader: pa.RecordBatchReader = self.backend.to_pyarrow_batches(expr, chunk_size=chunk_size)
        return reader

    @abstractmethod
    def write_parquet(self, expr: ir.Table, target: TableContract, path: Path) -> None:
        """Write the rows of ``expr`` shaped to ``target``'s contract as Parquet at ``path``:
        one file (DuckDB) or a folder of part files written by the executors (Spark). The
        engine encodes the Parquet itself, so no table passes through Python;
        :mod:`retail_lakehouse.lake.staged` commits either form."""

    def view(self, expr: ir.Table, name: str) -> ir.Table:
        """Name an expression that several queries build on, so each of them compiles only its
        own few steps on top (compiling silver's evaluated lines costs a tenth of a second). No
        data is computed here; engines without cheap views return ``expr`` itself."""
        return expr

    def materialize(self, expr: ir.Table, name: str) -> ir.Table:
        """Compute an intermediate result once so several outputs can reuse it."""
        table: ir.Table = self.backend.create_table(name, expr, temp=True, overwrite=True)
        return table

    def materialize_wide(self, expr: ir.Table, name: str, *, rows: int | None = None) -> ir.Table:
        """:meth:`materialize` for an intermediate as long as the input and possibly wider than
        memory (silver's standardised lines; ``rows`` the expected count, None if unknown):
        engines that hold temporary tables in a bounded memory pool keep a large one in a
        compressed scratch file instead (see DuckDB's)."""
        return self.materialize(expr, name)

    @abstractmethod
    def try_timestamp(self, value: ir.StringValue, strftime_format: str) -> ir.TimestampValue:
        """Parse text with a strftime-style format; NULL (never an error) when it does not fit.

        A two-digit year (``%y``) follows the POSIX rule on every engine: 69-99 are 1969-1999,
        00-68 are 2000-2068 (C, Python and DuckDB's ``strptime`` do this themselves; Spark's
        ``yy`` does not, so its engine moves the value: decision 0017)."""

    def timestamp_from_seconds(self, seconds: ir.IntegerValue) -> ir.TimestampValue:
        """Whole seconds since 1970-01-01 as a wall-clock timestamp (no time zone).

        Ibis' ``as_timestamp`` gives that on Spark; DuckDB's ``to_timestamp`` behind it returns a
        zoned timestamp, which DuckDB overrides (see there)."""
        result: ir.TimestampValue = seconds.as_timestamp("s")
        return result

    @abstractmethod
    def wall_clock(self, utc: ir.TimestampValue, zone: str) -> ir.TimestampValue:
        """A UTC instant (a zone-less timestamp holding UTC) as the wall clock of the IANA
        ``zone`` at that instant: ``2011-10-30 00:30`` and ``01:30`` are both ``02:30`` in
        Europe/Berlin (summer, then winter time). Always defined in this direction (a
        clock going forward skips no instant, one going back repeats a wall-clock time); each
        engine uses its own time-zone database (ICU for DuckDB, the JVM's for Spark)."""

    @abstractmethod
    def hex_to_int(self, value: ir.StringValue) -> ir.IntegerValue:
        """Hexadecimal text of at most 8 digits as a (non-negative) int64.

        Neither engine parses hexadecimal through a common Ibis operation: DuckDB casts
        ``'0x' || text``, Spark calls ``conv``. The 64-bit keys are built from two such halves
        (``pipeline.hashing``), identically on both."""

    def close(self) -> None:
        """Release the engine's resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def decimal_from_float_sql(value: str, type_: pa.Decimal128Type) -> str:
    """SQL turning a float into a decimal the same way on every engine.

    Engines cast doubles to decimals differently (Spark rounds the double's shortest decimal
    text half up, DuckDB the binary value), so a ratio such as a mart's ``lifetime_value``
    came out a cent apart once each engine wrote its own files. The one rule: multiply by
    ``10**scale`` in double arithmetic (IEEE, identical everywhere), round half to even to a
    whole number, then scale back with an exact decimal multiplication.

    The rounding is spelled out with ``floor`` and a comparison with 0.5 (exact on a double
    below 2**52) rather than the engines' own functions: DuckDB's ``round_even`` rounds
    2116404214225828.5 up (a 15-digit 7-day average of hostile data), Spark's ``bround``
    to the even neighbour."""
    scale = type_.scale
    scaled = f"(CAST({value} AS DOUBLE) * 1e{scale})"
    low = f"FLOOR({scaled})"
    half = "CAST(0.5 AS DOUBLE)"
    step = (
        f"CASE WHEN {scaled} - {low} > {half} THEN 1 WHEN {scaled} - {low} < {half} THEN 0"
        f" WHEN {low} % 2 = 0 THEN 0 ELSE 1 END"
    )
    whole = f"CAST(CAST({low} AS BIGINT) + {step} AS DECIMAL(38,0))"
    if scale == 0:
        return f"CAST({whole} AS DECIMAL({type_.precision},0))"
    unit = f"CAST(0.{'0' * (scale - 1)}1 AS DECIMAL({scale + 1},{scale}))"
    return f"CAST({whole} * {unit} AS DECIMAL({type_.precision},{scale}))"


def open_engine(lake: Lake, name: str = "duckdb", settings: Settings | None = None) -> Engine:
    """Open the named engine (``duckdb`` or ``spark``) on a lake (Spark's session from
    ``settings.spark``, else from the loaded settings)."""
    if name == "duckdb":
        from retail_lakehouse.engines.duckdb import DuckDBEngine

        return DuckDBEngine(lake)
    if name == "spark":
        from retail_lakehouse.engines.spark import SparkEngine

        return SparkEngine(lake, settings=settings.spark if settings else None)
    raise ValueError(f"unknown engine {name!r}: use duckdb or spark")
