"""The state of a lake in one dictionary: tables, line accounting, recent runs.

Shared by ``retail status``, the API and the demo, so they can never disagree.
"""

from __future__ import annotations

import json
from typing import Any

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL


def lake_status(lake: Lake, *, last_runs: int = 10) -> dict[str, Any]:
    """Row count and version of every table on disk, the accounting identity, the last runs,
    and the watcher's last heartbeat (None when no ``retail watch`` ever ran here).

    While a writer holds the lake, the snapshots of its tables may be taken on both sides of one
    of its commits, so the accounting is reported but not judged (``balanced`` is None and
    ``in_progress`` names the writer). Commands interrupted and not yet recovered are listed
    under ``interrupted``: the next writing command completes or undoes them."""
    from retail_lakehouse.lake.intents import pending
    from retail_lakehouse.pipeline.accounting import accounting as full_accounting

    writer = lake.writer()
    interrupted = [
        {"run_id": i.run_id, "command": i.command, "pid": i.pid}
        for i in pending(lake)
        if writer is None or i.pid != writer.get("pid")
    ]
    with LakeSQL(lake) as sql:
        tables: dict[str, dict[str, int | None]] = {}
        for name in lake.tables():
            rows = sql.arrow(f"SELECT count(*) AS n FROM {name}").column("n")[0].as_py()
            tables[name] = {"rows": rows, "version": sql.versions.get(name)}
        runs = sql.arrow(
            "SELECT run_id, command, status, started_at, finished_at, seconds, rows, error "
            "FROM meta.runs ORDER BY started_at DESC LIMIT ?",
            [last_runs],
        ).to_pylist()
        for run in runs:  # stored as JSON text in meta.runs; handed out as the object it is
            if isinstance(run["rows"], str):
                run["rows"] = json.loads(run["rows"])
        accounting = full_accounting(sql)
        formats = date_order_report(sql)
    if writer is not None:
        accounting["balanced"] = None
        accounting["in_progress"] = writer
    elif interrupted or accounting["rebuild_pending"]:
        accounting["balanced"] = None
    from retail_lakehouse.orchestrate.heartbeat import watcher_status

    return {
        "lake": str(lake.root),
        "tables": tables,
        "accounting": accounting,
        "date_orders": formats,
        "runs": runs,
        "watcher": watcher_status(lake),
        "interrupted": interrupted,
    }


def date_order_report(sql: LakeSQL) -> dict[str, list[str]]:
    """Files whose date order was assumed (every date read both ways), and files the invoice
    numbers say are probably read with day and month swapped, in words a user acts on."""
    from retail_lakehouse.quality.date_swaps import likely_swaps
    from retail_lakehouse.sources.formats import assumed_note

    lake = sql.lake
    if not lake.exists("bronze.files"):
        return {"assumed": [], "likely_swaps": []}
    if "date_order_source" not in lake.arrow_schema("bronze.files").names:
        return {"assumed": [], "likely_swaps": []}
    assumed = sql.arrow(
        "SELECT _source_file, date_order FROM bronze.files "
        "WHERE date_order_source = 'assumed' AND date_pattern IS NOT NULL ORDER BY _batch_seq"
    ).to_pylist()
    return {
        "assumed": [assumed_note(row["_source_file"], row["date_order"]) for row in assumed],
        "likely_swaps": [swap.message() for swap in likely_swaps(sql)],
    }
