"""The state of a lake in one dictionary: tables, the accounting through every layer, recent
runs, interrupted commands, the watcher.

Shared by ``retail status``, the API and the demo, so they can never disagree.

Everything comes from the Delta logs and delta-rs' own query engine (DataFusion), never from an
engine session: row counts are the ``numRecords`` of each snapshot's files (exact, since lake
tables have no deletion vectors), and the figures that need values (the watermarks, the lines
above them, the fact's and the marts' totals, the last runs) are the one accounting query of
:mod:`retail_lakehouse.pipeline.accounting`, run by delta-rs over the same snapshots. So
``retail status`` imports neither DuckDB nor pyarrow and answers in a fraction of a second on a
541,909-line lake. A lake missing one of the accounting's tables (gold not built yet) is
counted by DuckDB instead, which reads a missing table as empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable, QueryBuilder
from deltalake.exceptions import TableNotFoundError

from retail_lakehouse.lake.holder import live_holder
from retail_lakehouse.lake.intents import pending
from retail_lakehouse.pipeline.accounting import TABLES as ACCOUNTING_TABLES
from retail_lakehouse.pipeline.accounting import accounting

if TYPE_CHECKING:
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.query import LakeSQL

LAYERS = ("bronze", "silver", "gold", "meta")
"""Listing order (``Lake.tables`` uses the same)."""


def _lake_format(root: Path) -> dict[str, Any]:
    """The format the lake records (``lake/lake_format.py``) next to the one this release
    writes; an unreadable record is reported (``recorded`` None, ``problem``), not raised:
    status only reads."""
    from retail_lakehouse.lake.errors import LakeFormatError
    from retail_lakehouse.lake.lake_format import LAKE_FORMAT, recorded_format

    try:
        return {"recorded": recorded_format(root), "this_release": LAKE_FORMAT, "problem": None}
    except LakeFormatError as error:
        return {"recorded": None, "this_release": LAKE_FORMAT, "problem": str(error)}


def lake_status(
    lake: Lake | Path, *, last_runs: int = 10, time_zone: str = "UTC"
) -> dict[str, Any]:
    """Row count and version of every table on disk, the accounting identity, the last runs,
    and the watcher's last heartbeat (None when no ``retail watch`` ever ran here).
    ``time_zone``: the configured zone, set beside the one silver and gold were built in.

    While a writer holds the lake, the snapshots of its tables may be taken on both sides of one
    of its commits, so the accounting is reported but not judged (``balanced`` is None and
    ``in_progress`` names the writer). Commands interrupted and not yet recovered are listed
    under ``interrupted``: the next writing command completes or undoes them."""
    from retail_lakehouse.orchestrate.heartbeat import watcher_status

    root = lake if isinstance(lake, Path) else lake.root
    writer = live_holder(root)
    interrupted = [
        {"run_id": i.run_id, "command": i.command, "pid": i.pid}
        for i in pending(root)
        if writer is None or i.pid != writer.get("pid")
    ]
    snapshots = _snapshots(root)
    tables = {
        name: {"rows": _rows(table), "version": table.version()}
        for name, table in snapshots.items()
    }
    runs: list[dict[str, Any]] = []
    if "meta.runs" in snapshots:
        runs = _DeltaSQL(snapshots).rows(
            "SELECT run_id, command, status, started_at, finished_at, seconds, rows, error "
            f"FROM meta.runs ORDER BY started_at DESC LIMIT {int(last_runs)}"
        )
        for run in runs:  # stored as JSON text in meta.runs; handed out as the object it is
            if isinstance(run["rows"], str):
                run["rows"] = json.loads(run["rows"])
    counts = _accounting(root, snapshots)
    formats = _date_orders(root, snapshots)
    if writer is not None:
        counts["balanced"] = None
        counts["in_progress"] = writer
    elif interrupted or counts["rebuild_pending"]:
        counts["balanced"] = None
    return {
        "lake": str(root),
        "format": _lake_format(root),
        "tables": tables,
        "accounting": counts,
        "date_orders": formats,
        "time_zone": _time_zone(snapshots, time_zone),
        "runs": runs,
        "watcher": watcher_status(root),
        "interrupted": interrupted,
    }


def _time_zone(snapshots: dict[str, DeltaTable], configured: str) -> dict[str, Any]:
    """The zone silver and gold were built in (silver's watermark, as the run's refusal reads
    it: ``lake/watermarks.recorded_time_zone``; None before the first run, UTC for a lake from
    before the zone was recorded), the configured one, and whether they differ: then the next
    ``retail run`` with new lines is refused (exit 2) until a full refresh rebuilds in it."""
    from retail_lakehouse.lake.consumers import SILVER_CONSUMER

    built: str | None = None
    table = snapshots.get("meta.watermarks")
    if table is not None:
        zoned = any(field.name == "time_zone" for field in table.schema().fields)
        column = "time_zone" if zoned else "CAST(NULL AS VARCHAR) AS time_zone"
        rows = _DeltaSQL({"meta.watermarks": table}).rows(
            f"SELECT {column} FROM meta.watermarks WHERE consumer = '{SILVER_CONSUMER}'"
        )
        if rows:
            built = rows[0]["time_zone"] or "UTC"
    return {"lake": built, "configured": configured, "differs": built not in (None, configured)}


ASSUMED_LISTED = 20
"""At most this many files (or sheets) with an assumed date order are named, the latest ones;
``assumed_count`` says how many there are. A long-lived lake may hold a million such files:
naming each made ``retail status`` take 108 CPU-s and 1 GB to print a million lines (decision
0020's fifteenth-round addendum, branch ``manifest15``)."""


def date_order_report(sql: LakeSQL) -> dict[str, Any]:
    """Files whose date order was assumed (every date read both ways; the latest
    :data:`ASSUMED_LISTED` named, and how many), and files the invoice numbers say are probably
    read with day and month swapped, in words a user acts on."""
    from retail_lakehouse.quality.date_swaps import likely_swaps, units_sql
    from retail_lakehouse.sources.formats import assumed_note

    lake = sql.lake
    if not lake.exists("bronze.files"):
        return dict(_NO_DATE_ORDERS)
    if "date_order_source" not in lake.arrow_schema("bronze.files").names:
        return dict(_NO_DATE_ORDERS)
    assumed_units = (
        "SELECT _batch_seq, file, sheet, date_order, undated_lines, undated_example "
        f"FROM ({units_sql(lake)}) "
        "WHERE date_order_source = 'assumed' AND date_pattern IS NOT NULL"
    )
    count = sql.arrow(f"SELECT count(*) AS n FROM ({assumed_units})").to_pylist()[0]["n"]
    latest = sql.arrow(
        f"SELECT * FROM ({assumed_units} ORDER BY _batch_seq DESC, sheet DESC "
        f"LIMIT {ASSUMED_LISTED}) ORDER BY _batch_seq, sheet"
    ).to_pylist()
    return {
        "assumed": [
            assumed_note(
                r["file"],
                r["date_order"],
                r["sheet"],
                r["undated_lines"] or 0,  # NULL: ingested before the count was kept
                r["undated_example"],
            )
            for r in latest
        ],
        "assumed_count": int(count),
        "likely_swaps": [swap.message() for swap in likely_swaps(sql)],
    }


_NO_DATE_ORDERS: dict[str, Any] = {"assumed": [], "assumed_count": 0, "likely_swaps": []}


def _date_orders(root: Path, snapshots: dict[str, DeltaTable]) -> dict[str, Any]:
    """:func:`date_order_report`, opening an engine only when some file's date order was
    assumed (the swap check needs one; a lake without such files answers from the log)."""
    files = snapshots.get("bronze.files")
    none = dict(_NO_DATE_ORDERS)
    if files is None or "date_order_source" not in [f.name for f in files.schema().fields]:
        return none
    assumed = _DeltaSQL({"bronze.files": files}).rows(
        "SELECT count(*) AS n FROM bronze.files WHERE date_order_source IN ('assumed', 'per-sheet')"
    )
    if not assumed or not assumed[0]["n"]:
        return none
    from retail_lakehouse.lake.query import LakeSQL
    from retail_lakehouse.lake.store import Lake

    with LakeSQL(Lake(root)) as sql:
        return date_order_report(sql)


def _accounting(root: Path, snapshots: dict[str, DeltaTable]) -> dict[str, Any]:
    if all(name in snapshots for name in ACCOUNTING_TABLES):
        return accounting(_DeltaSQL(snapshots))
    from retail_lakehouse.lake.query import LakeSQL
    from retail_lakehouse.lake.store import Lake

    with LakeSQL(Lake(root), tables=ACCOUNTING_TABLES) as sql:
        return accounting(sql)


class _DeltaSQL:
    """Our own SQL (never a user's) over the snapshots, run by delta-rs' DataFusion: tables are
    named ``layer.table`` as in every other query of the project."""

    def __init__(self, snapshots: dict[str, DeltaTable]) -> None:
        self._snapshots = snapshots

    def arrow(self, sql: str) -> _Rows:
        """The result as rows (what :func:`accounting` reads with ``to_pylist``)."""
        return _Rows(self.rows(sql))

    def rows(self, sql: str) -> list[dict[str, Any]]:
        builder = QueryBuilder()
        for name, table in self._snapshots.items():
            alias = name.replace(".", "__")
            if name in sql:
                sql = sql.replace(name, alias)
                builder.register(alias, table)
        result = builder.execute(sql).read_all()
        names = result.column_names
        columns = [result.column(n).to_pylist() for n in names]
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


class _Rows(list[dict[str, Any]]):
    def to_pylist(self) -> list[dict[str, Any]]:
        return list(self)


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
