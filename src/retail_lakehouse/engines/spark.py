"""The scale-out engine: the same Ibis expressions on PySpark (local mode here, a cluster there).

Delta snapshots are read as their Parquet files (delta-spark jars cannot be fetched offline);
the executors write the big outputs as Parquet and the driver commits them with delta-rs, like
every other engine's files. Where the session runs comes from ``[spark]`` in ``retail.toml``
(:mod:`retail_lakehouse.engines.spark_session`, docs/spark.md).
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retail_lakehouse.config import SparkSettings
from retail_lakehouse.engines.base import Engine, decimal_from_float_sql
from retail_lakehouse.lake import Lake, arrays
from retail_lakehouse.lake.contracts import TableContract
from retail_lakehouse.lake.location import data_files

# strftime directive -> Spark datetime pattern. One-letter Spark fields accept one or two digits,
# like strptime's %m/%d/%H do, so the same format text means the same thing on both engines.
_STRFTIME_TO_SPARK = {
    "%Y": "yyyy",
    "%y": "yy",
    "%m": "M",
    "%d": "d",
    "%H": "H",
    "%M": "mm",
    "%S": "ss",
    "%f": "SSSSSS",
}


def spark_pattern(strftime_format: str) -> str:
    """Translate the strftime subset the project uses into a Spark datetime pattern."""
    out: list[str] = []
    for literal, directive in re.findall(r"([^%]*)(%[A-Za-z])?", strftime_format):
        if literal:
            out.append(re.sub(r"([A-Za-z]+)", r"'\1'", literal))
        if directive:
            if directive not in _STRFTIME_TO_SPARK:
                raise ValueError(f"unsupported directive {directive} in {strftime_format!r}")
            out.append(_STRFTIME_TO_SPARK[directive])
    return "".join(out)


@ibis.udf.scalar.builtin(name="try_to_timestamp")  # type: ignore[untyped-decorator]
def _try_to_timestamp(value: str, fmt: str) -> datetime:  # type: ignore[empty-body]
    """Spark's non-raising parser."""


@ibis.udf.scalar.builtin(name="conv")  # type: ignore[untyped-decorator]
def _conv(value: str, from_base: int, to_base: int) -> str:  # type: ignore[empty-body]
    """Spark's base conversion of number text."""


@ibis.udf.scalar.builtin(name="from_utc_timestamp")  # type: ignore[untyped-decorator]
def _from_utc_timestamp(instant: datetime, zone: str) -> datetime:  # type: ignore[empty-body]
    """Spark's ``from_utc_timestamp``: a UTC timestamp as the wall clock of ``zone``."""


class SparkEngine(Engine):
    """Ibis over a Spark session: a local one, a cluster's driver, or a Spark Connect client.

    Executors read the snapshot's Parquet files by fully qualified ``file://`` URIs and write
    the big outputs as Parquet part files into a staged folder inside the table's folder; only
    small results (dimensions, aggregates) come back to the driver, as Arrow."""

    name = "spark"

    def __init__(self, lake: Lake, *, settings: SparkSettings | None = None) -> None:
        super().__init__(lake)
        from retail_lakehouse.engines.spark_session import SparkUnavailable, open_session, target

        if settings is None:
            from retail_lakehouse.config import load_settings

            settings = load_settings().spark
        self.settings = settings
        if target(settings)[0] == "remote" and _unglobbable(file_uri(lake.root)):
            raise SparkUnavailable(
                f"lake folder {str(lake.root)!r}: Spark Connect cannot read a lake whose path has "
                "both glob characters ({ } * ?) and a folder name with a colon: Hadoop's glob "
                "takes such a name for a URI, and Spark Connect lower-cases the name of the "
                "reader option that turns globbing off; rename a folder, or use a Spark master "
                "(not a Connect server) or --engine duckdb"
            )
        self._session = open_session(settings)
        self._con = ibis.pyspark.connect(self._session)
        self._ids = itertools.count()

    @property
    def backend(self) -> ibis.BaseBackend:
        return self._con

    @property
    def session(self) -> Any:
        """The Spark session (``pyspark.sql.SparkSession``, classic or Connect)."""
        return self._session

    def table(self, qualified: str, version: int | None = None) -> ir.Table:
        view = f"lake_{qualified.replace('.', '__')}_{next(self._ids)}"
        delta = self.lake.delta(qualified, version)
        files = [file_uri(f) for f in data_files(delta)] if delta is not None else []
        self.versions[qualified] = delta.version() if delta is not None else None
        if files:
            frame = read_parquet(self._session, files)
            frame.createOrReplaceTempView(view)
            return self._con.table(view)
        return self.arrow_table(arrays.empty_table(self.lake.arrow_schema(qualified)), view)

    def arrow_table(self, data: pa.Table, name: str) -> ir.Table:
        from ibis.backends.pyspark.datatypes import PySparkSchema

        schema = PySparkSchema.from_ibis(ibis.Schema.from_pyarrow(data.schema))
        frame = self._session.createDataFrame(data.to_pandas(), schema=schema)
        frame.createOrReplaceTempView(name)
        return self._con.table(name)

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        """Small results only (dimensions, aggregates): Spark's own Arrow collection, no pandas
        on the way; tables never come back this way (see :meth:`write_parquet`)."""
        from ibis.formats.pyarrow import PyArrowData

        frame = self._session.sql(str(self._con.compile(expr)))
        if hasattr(frame, "toArrow"):  # Spark 4
            collected = frame.toArrow()
        else:  # Spark 3.5's classic DataFrame: through pandas (small results only)
            collected = pa.Table.from_pandas(frame.toPandas(), preserve_index=False)
        result: pa.Table = PyArrowData.convert_table(collected, expr.schema())
        return result

    def to_batches(self, expr: ir.Table, chunk_size: int = 1_000_000) -> pa.RecordBatchReader:
        table = self.to_arrow(expr)
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(chunk_size))

    def write_parquet(self, expr: ir.Table, target: TableContract, path: Path) -> None:
        """The executors write ``expr`` as Parquet part files into the folder ``path`` (inside
        the table's folder, unknown to the Delta log); the driver only commits them
        (:func:`~retail_lakehouse.lake.staged.commit_staged`). Each column is cast to the
        contract's type in Spark SQL, so the files need no reshaping on the driver."""
        schema = expr.schema()
        produced = list(schema.names)
        floats = {name for name, dtype in schema.items() if dtype.is_floating()}
        items = [_conformed(f, produced, floats) for f in target.schema]
        if target.evolves:
            known = set(target.schema.names)
            items += [
                f"CAST({_quote(n)} AS STRING) AS {_quote(n)}" for n in produced if n not in known
            ]
        sql = f"SELECT {', '.join(items)} FROM ({self._con.compile(expr)}) AS produced"
        self._session.sql(sql).write.mode("error").parquet(file_uri(path))

    def try_timestamp(self, value: ir.StringValue, strftime_format: str) -> ir.TimestampValue:
        result: ir.TimestampValue = _try_to_timestamp(value, spark_pattern(strftime_format))
        if "%y" in strftime_format:
            result = posix_century(result)
        return result

    def wall_clock(self, utc: ir.TimestampValue, zone: str) -> ir.TimestampValue:
        result: ir.TimestampValue = _from_utc_timestamp(utc, zone)
        return result

    def hex_to_int(self, value: ir.StringValue) -> ir.IntegerValue:
        result: ir.IntegerValue = _conv(value, 16, 10).cast("int64")
        return result

    def materialize(self, expr: ir.Table, name: str) -> ir.Table:
        frame = self._session.sql(str(self._con.compile(expr))).cache()
        frame.createOrReplaceTempView(name)
        return self._con.table(name)

    def close(self) -> None:
        # The session is left running: a JVM start costs seconds, and tests open several engines.
        pass


TWO_DIGIT_YEAR_PIVOT = 69
"""Two-digit years 69-99 are 1969-1999, 00-68 are 2000-2068: the POSIX ``%y`` rule (C,
Python, DuckDB). Spark's ``yy`` reads every two-digit year as 2000-2099 (``12/5/99`` was
2099-12-05 on Spark, 1999-12-05 on DuckDB; decision 0017, addendum on engine parity)."""


def posix_century(ts: ir.TimestampValue) -> ir.TimestampValue:
    """A timestamp Spark parsed from a two-digit year moved to the century
    :data:`TWO_DIGIT_YEAR_PIVOT` gives it: 2069-2099 move back a hundred years to 1969-1999,
    which have the same leap years, so a 29 February stays a 29 February. Here and not in the
    shared parser: DuckDB's values are already there, and the shared expression grew by two
    conditions per two-digit layout for every engine (0.02-0.04 CPU-s of an append's
    ``retail run`` in Ibis and DuckDB's planner; decision 0020, fifteenth round)."""
    moved: ir.TimestampValue = ts - ibis.interval(years=100)
    result: ir.TimestampValue = ibis.ifelse(ts.year() >= 2000 + TWO_DIGIT_YEAR_PIVOT, moved, ts)
    return result


def file_uri(location: str | Path) -> str:
    """A fully qualified URI for Spark: ``file:///abs/path`` for local paths (a cluster whose
    default filesystem is HDFS or an object store would resolve a bare path there), URIs with
    a scheme unchanged. Not percent-encoded: Hadoop's ``Path`` takes the text as it is."""
    text = str(location)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        return text
    return "file://" + Path(text).absolute().as_posix()


def read_parquet(session: Any, uris: list[str]) -> Any:
    """One DataFrame of the Parquet files at ``uris`` (a Delta snapshot's files, by
    :func:`file_uri`), each read once, whatever the lake folder is named.

    Spark's reader expands glob patterns (``{a,b}``, ``*``, ``?``) in the paths it is given,
    so a lake folder named ``sales {2026}`` was "Path does not exist": the characters are
    backslash-escaped (:func:`_literal`), which Hadoop's glob takes as themselves. But Hadoop's
    glob rebuilds each segment of a pattern with ``new Path(parent, segment)``, which takes a
    segment ``a:b`` for a URI of the scheme ``a`` ("Relative path in absolute URI: a:b"), so a
    folder with both cannot be globbed at all. Spark's own switch for that, the reader option
    ``__globPaths__=false`` (set by its JSON/CSV/XML readers of file lists), returns every
    path given for each path that looks like a pattern (``DataSource.
    checkAndGlobPathIfNecessary``, Spark 3.1 to 4.0): n files were read n times each. So there,
    and only there, each file is read alone and the frames are unioned by name (columns a file
    lacks are null, as ``mergeSchema`` makes them); a union of 100 one-file reads took 11-18 s
    to plan against 2-4 s for one reader. Spark Connect lower-cases reader options, so it never
    gets here: :class:`SparkEngine` refuses such a lake on Connect (decision 0016, addendum on
    folder names)."""
    if not any(map(_unglobbable, uris)):
        return session.read.option("mergeSchema", "true").parquet(*map(_literal, uris))
    frames = [session.read.option("__globPaths__", "false").parquet(u) for u in uris]
    while len(frames) > 1:  # in pairs, not a chain: a plan log2(n) unions deep, not n
        pairs = itertools.zip_longest(frames[::2], frames[1::2])
        frames = [a if b is None else a.unionByName(b, allowMissingColumns=True) for a, b in pairs]
    return frames[0]


_GLOB = re.compile(r"[{}*?]")


def _literal(uri: str) -> str:
    """``uri`` as a path Spark's reader takes literally: Hadoop's glob takes a
    backslash-escaped character as itself. (``[``, ``]`` and backslashes cannot be in a lake
    path: ``lake/location.delta_openable``.)"""
    return _GLOB.sub(r"\\\g<0>", uri)


def _unglobbable(uri: str) -> bool:
    """Whether Hadoop's glob fails on ``uri`` (escaped or not): glob characters make it a
    pattern, and a colon after its ``scheme://authority`` is in a folder name."""
    return bool(_GLOB.search(uri)) and ":" in re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*", "", uri)


def spark_type(type_: pa.DataType) -> str:
    """The Spark SQL type of a contract column."""
    if pa.types.is_timestamp(type_):
        return "TIMESTAMP" if type_.tz else "TIMESTAMP_NTZ"
    if pa.types.is_decimal(type_):
        return f"DECIMAL({type_.precision},{type_.scale})"
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return f"ARRAY<{spark_type(type_.value_type)}>"
    if pa.types.is_struct(type_):  # field names come from the contracts
        fields = ", ".join(f"`{f.name}`: {spark_type(f.type)}" for f in type_)
        return f"STRUCT<{fields}>"
    simple = {
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INT",
        pa.int64(): "BIGINT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.string(): "STRING",
        pa.large_string(): "STRING",
        pa.date32(): "DATE",
        pa.binary(): "BINARY",
    }
    if type_ in simple:
        return simple[type_]
    raise ValueError(f"no Spark type for contract type {type_}")


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _conformed(field: pa.Field, produced: list[str], floats: set[str]) -> str:
    """A select item giving ``field`` its contract type (NULL when the expression lacks it;
    floats bound for decimals by the portable rule of ``decimal_from_float_sql``)."""
    source = _quote(field.name) if field.name in produced else "NULL"
    if field.name in floats and pa.types.is_decimal(field.type):
        return f"{decimal_from_float_sql(source, field.type)} AS {_quote(field.name)}"
    return f"CAST({source} AS {spark_type(field.type)}) AS {_quote(field.name)}"
