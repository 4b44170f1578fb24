"""Lines and rejects of ingests that crashed before their manifest commit, removed.

A module of its own so ``retail run`` (which removes orphans before every run) does not import
the reading half of bronze (``bronze_stage``: Polars and the file readers) it never uses.
"""

from __future__ import annotations

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, BRONZE_REJECTS, BRONZE_SALES_LINES


def remove_orphans(lake: Lake) -> int:
    """Delete lines and rejects of ingests that crashed before their manifest commit.

    Usually there are none, which the Delta log's ``_batch_seq`` statistics tell without
    opening a connection or a Parquet file (every ``retail run`` and ``retail ingest`` asks;
    decision 0020, seventh round); otherwise, or when a file has no statistics, DuckDB counts."""
    lines = BRONZE_SALES_LINES.qualified
    manifest_high = _highest(lake, BRONZE_FILES.qualified)
    if manifest_high is not None:
        beyond = [_highest(lake, t) for t in (lines, BRONZE_REJECTS.qualified)]
        if all(high is not None and high <= max(manifest_high, 0) for high in beyond):
            return 0
    from retail_lakehouse.lake.query import LakeSQL  # DuckDB: only when there may be orphans

    tables = [BRONZE_FILES.qualified, lines, BRONZE_REJECTS.qualified]
    with LakeSQL(lake, tables=tables) as sql:
        top = sql.arrow("SELECT coalesce(max(_batch_seq), 0) AS s FROM bronze.files")
        high: int = top.column("s")[0].as_py()
        orphans = sql.arrow(
            "SELECT count(*) AS n FROM bronze.sales_lines WHERE _batch_seq > ?", [high]
        )
        count: int = orphans.column("n")[0].as_py()
        stray_rejects = sql.arrow(
            "SELECT count(*) AS n FROM bronze.rejects WHERE _batch_seq > ?", [high]
        )
    if count:
        lake.delete(lines, f"_batch_seq > {int(high)}")
    if stray_rejects.column("n")[0].as_py():
        lake.delete(BRONZE_REJECTS.qualified, f"_batch_seq > {int(high)}")
    return count


def _highest(lake: Lake, qualified: str) -> int | None:
    """The table's highest ``_batch_seq`` by its files' statistics (-1: no table or no row);
    None when a file with rows has no statistic for it."""
    stats = lake.file_stats(qualified)
    if stats is None or not stats.num_rows:
        return -1
    if "max._batch_seq" not in stats.column_names:
        return None
    rows = stats.column("num_records").to_pylist()
    highs = stats.column("max._batch_seq").to_pylist()
    held = [high for high, n in zip(highs, rows, strict=True) if n is None or n > 0]
    if any(high is None for high in held):
        return None
    return max(held, default=-1)
