"""Lines and rejects of ingests that crashed before their manifest commit, removed.

A module of its own so ``retail run`` (which removes orphans before every run) does not import
the reading half of bronze (``bronze_stage``: Polars and the file readers) it never uses.
"""

from __future__ import annotations

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, BRONZE_REJECTS, BRONZE_SALES_LINES
from retail_lakehouse.lake.query import LakeSQL


def remove_orphans(lake: Lake) -> int:
    """Delete lines and rejects of ingests that crashed before their manifest commit."""
    lines = BRONZE_SALES_LINES.qualified
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
