"""Every gold table's rows (summaries included), sorted and without the run id: what the gold
tests compare between two lakes (DuckDB against Spark, incremental against a rebuild)."""

from __future__ import annotations

from typing import Any

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import GOLD_SUMMARIES, GOLD_TABLES
from retail_lakehouse.lake.query import LakeSQL


def gold_rows(lake: Lake) -> dict[str, list[tuple[Any, ...]]]:
    """Each gold table's rows as sorted tuples, keyed by its qualified name."""
    found = {}
    with LakeSQL(lake) as con:
        for table in (*GOLD_TABLES, *GOLD_SUMMARIES):
            data = con.arrow(f"SELECT * FROM {table.qualified}")
            data = data.drop_columns([c for c in data.column_names if c == "_run_id"])
            found[table.qualified] = sorted(
                zip(*(c.to_pylist() for c in data.columns), strict=True), key=repr
            )
    return found
