"""The scale-out engine: the same Ibis expressions on PySpark (local mode here, a cluster there).

Delta snapshots are read as their Parquet files (delta-spark jars cannot be fetched offline);
results come back as Arrow and are committed with deltalake like every other engine's. On a real
cluster, point ``RETAIL_SPARK_MASTER`` at it.
"""

from __future__ import annotations

import itertools
import os
import re
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retail_lakehouse.engines.base import Engine
from retail_lakehouse.lake import Lake

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


class SparkEngine(Engine):
    """Ibis over a PySpark session."""

    name = "spark"

    def __init__(self, lake: Lake, *, master: str | None = None) -> None:
        super().__init__(lake)
        from pyspark.sql import SparkSession

        builder: Any = SparkSession.builder
        self._session = (
            builder.master(master or os.environ.get("RETAIL_SPARK_MASTER", "local[2]"))
            .appName("retail-lakehouse")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.ansi.enabled", "false")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", os.environ.get("RETAIL_SPARK_DRIVER_MEMORY", "2g"))
            .getOrCreate()
        )
        self._session.sparkContext.setLogLevel("ERROR")
        self._con = ibis.pyspark.connect(self._session)
        self._ids = itertools.count()

    @property
    def backend(self) -> ibis.BaseBackend:
        return self._con

    def table(self, qualified: str, version: int | None = None) -> ir.Table:
        view = f"lake_{qualified.replace('.', '__')}_{next(self._ids)}"
        delta = self.lake.delta(qualified, version)
        files = list(delta.file_uris()) if delta is not None else []
        self.versions[qualified] = delta.version() if delta is not None else None
        if files:
            frame = self._session.read.option("mergeSchema", "true").parquet(*files)
            frame.createOrReplaceTempView(view)
            return self._con.table(view)
        return self.arrow_table(self.lake.arrow_schema(qualified).empty_table(), view)

    def arrow_table(self, data: pa.Table, name: str) -> ir.Table:
        from ibis.backends.pyspark.datatypes import PySparkSchema

        schema = PySparkSchema.from_ibis(ibis.Schema.from_pyarrow(data.schema))
        frame = self._session.createDataFrame(data.to_pandas(), schema=schema)
        frame.createOrReplaceTempView(name)
        return self._con.table(name)

    def try_timestamp(self, value: ir.StringValue, strftime_format: str) -> ir.TimestampValue:
        result: ir.TimestampValue = _try_to_timestamp(value, spark_pattern(strftime_format))
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
