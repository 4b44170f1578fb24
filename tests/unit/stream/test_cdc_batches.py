"""The CDC state as bronze batches: one live batch per changed line-id group, exactly the live
lines, re-emitted only when the group's state changes (``pipeline/cdc_batches.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline.cdc import ingest_changes
from retail_lakehouse.pipeline.cdc_batches import GROUPS, sync_groups


def envelope(op: str, line_id: str, position: int, quantity: int = 1) -> dict[str, Any]:
    image = {"line_id": line_id, "InvoiceNo": "536365", "StockCode": "85123A",
             "Description": "HEART", "Quantity": str(quantity), "InvoiceDate": "12/1/2010 8:26",
             "UnitPrice": "2.55", "CustomerID": "17850", "Country": "United Kingdom"}  # fmt: skip
    return {
        "op": op,
        "before": image if op == "d" else None,
        "after": None if op == "d" else image,
        "source": {"lsn": position, "ts_ms": position},
    }


def apply(lake: Lake, path: Path, events: list[dict[str, Any]]) -> Any:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    with recorded_run(lake, "ingest --cdc") as run:
        return ingest_changes(lake, path, run)


def bronze(lake: Lake) -> dict[str, Any]:
    with LakeSQL(lake, tables=["bronze.files", "bronze.sales_lines"]) as sql:
        return dict(
            sql.arrow(
                "SELECT (SELECT count(*) FROM bronze.files WHERE format = 'cdc') AS batches, "
                "(SELECT count(DISTINCT _source_file) FROM bronze.files) AS groups, "
                "(SELECT count(*) FROM bronze.sales_lines) AS lines"
            ).to_pylist()[0]
        )


def test_groups_hold_exactly_the_live_lines_and_move_only_when_they_change(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    ids = [f"L{n:04d}" for n in range(60)]
    created = [envelope("c", i, 10 + n) for n, i in enumerate(ids)]
    first = apply(lake, tmp_path / "a.ndjson", created)
    assert first.synced is not None and first.synced.lines == 60
    state = bronze(lake)
    assert state["lines"] == 60 and state["batches"] == state["groups"] <= GROUPS

    with recorded_run(lake, "again") as run:  # nothing changed: nothing is re-emitted
        again = sync_groups(lake, run)
    assert (again.emitted, again.retracted) == ([], [])

    duplicate = apply(lake, tmp_path / "b.ndjson", [envelope("c", ids[0], 10)])
    assert duplicate.duplicates == 1 and duplicate.synced is not None
    assert (duplicate.synced.emitted, duplicate.synced.retracted) == ([], [])

    changed = apply(
        lake,
        tmp_path / "c.ndjson",
        [envelope("u", ids[1], 500, quantity=7), envelope("d", ids[2], 501)],
    )
    assert changed.synced is not None
    assert len(changed.synced.emitted) == len(changed.synced.retracted) <= 2
    after = bronze(lake)
    assert after["lines"] == 59 and after["batches"] == after["groups"]
    with LakeSQL(lake, tables=["bronze.sales_lines", "meta.retractions"]) as sql:
        quantities = sql.arrow("SELECT sum(CAST(quantity AS INT)) AS q FROM bronze.sales_lines")
        retracted = sql.arrow("SELECT count(*) AS n FROM meta.retractions")
    assert quantities.to_pylist() == [{"q": 58 + 7}]
    assert retracted.to_pylist() == [{"n": len(changed.synced.retracted)}]
