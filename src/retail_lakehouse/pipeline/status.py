"""The state of a lake in one dictionary: tables, line accounting, recent runs.

Shared by ``retail status``, the API and the demo, so they can never disagree.

Everything comes from the Delta logs and delta-rs' own query engine, never from an engine
session: row counts are the ``numRecords`` of each snapshot's files (exact, since lake tables have
no deletion vectors), and the two questions that need values (lines above the silver watermark,
the last runs) read one or two columns of a small table. So ``retail status`` does not import
pyarrow or DuckDB and answers in a fraction of a second on any lake size.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable, QueryBuilder
from deltalake.exceptions import TableNotFoundError

if TYPE_CHECKING:
    from retail_lakehouse.lake import Lake

LAYERS = ("bronze", "silver", "gold", "meta")
"""Listing order (``Lake.tables`` uses the same)."""


def lake_status(lake: Lake | Path, *, last_runs: int = 10) -> dict[str, Any]:
    """Row count and version of every table on disk, the accounting identity, the last runs."""
    root = lake if isinstance(lake, Path) else lake.root
    snapshots = _snapshots(root)
    tables = {
        name: {"rows": _rows(table), "version": table.version()}
        for name, table in snapshots.items()
    }
    runs: list[dict[str, Any]] = []
    if "meta.runs" in snapshots:
        runs = _query(
            snapshots,
            "SELECT run_id, command, status, started_at, finished_at, seconds, rows, error "
            f"FROM meta_runs ORDER BY started_at DESC LIMIT {int(last_runs)}",
        )
    accounting = line_accounting(snapshots, tables)
    return {"lake": str(root), "tables": tables, "accounting": accounting, "runs": runs}


def line_accounting(
    snapshots: dict[str, DeltaTable], tables: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """bronze = silver + quarantine + duplicates (+ lines of batches not yet processed)."""

    def rows(name: str) -> int:
        return int(tables.get(name, {}).get("rows") or 0)

    mark = -1
    if "meta.watermarks" in snapshots:
        found = _query(
            snapshots,
            "SELECT max(batch_seq) AS seq FROM meta_watermarks WHERE consumer = 'silver'",
        )
        mark = found[0]["seq"] if found and found[0]["seq"] is not None else -1
    pending = 0
    if "bronze.sales_lines" in snapshots:
        found = _query(
            snapshots,
            f"SELECT count(*) AS n FROM bronze_sales_lines WHERE _batch_seq > {int(mark)}",
        )
        pending = int(found[0]["n"])
    counts: dict[str, Any] = {
        "bronze": rows("bronze.sales_lines"),
        "pending": pending,
        "silver": rows("silver.sales_lines"),
        "quarantine": rows("silver.quarantine"),
        "duplicates": rows("silver.duplicates"),
    }
    counts["balanced"] = counts["bronze"] == (
        counts["silver"] + counts["quarantine"] + counts["duplicates"] + counts["pending"]
    )
    return counts


def _snapshots(root: Path) -> dict[str, DeltaTable]:
    """The latest snapshot of every table on disk, as ``layer.table``, in layer order."""
    found: dict[str, DeltaTable] = {}
    for layer in LAYERS:
        folder = root / layer
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not (path / "_delta_log").is_dir():
                continue
            try:
                found[f"{layer}.{path.name}"] = DeltaTable(str(path))
            except TableNotFoundError:  # a log folder with no commit yet
                continue
    return found


def _rows(table: DeltaTable) -> int:
    """Rows of the snapshot from its files' statistics; counted when a file has none."""
    counts = table.get_add_actions(flatten=False).column("num_records").to_pylist()
    if all(n is not None for n in counts):
        return int(sum(counts))
    builder = QueryBuilder().register("t", table)
    total = builder.execute("SELECT count(*) AS n FROM t").read_all()
    return int(total.column("n").to_pylist()[0])


def _query(snapshots: dict[str, DeltaTable], sql: str) -> list[dict[str, Any]]:
    """Run ``sql`` (our text, never a user's) over the snapshots, as ``layer_table`` names."""
    builder = QueryBuilder()
    for name, table in snapshots.items():
        if name.replace(".", "_") in sql:
            builder.register(name.replace(".", "_"), table)
    result = builder.execute(sql).read_all()
    names = result.column_names
    columns = [result.column(n).to_pylist() for n in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
