"""Builds real quality history in a lake with ``Lake.write``: what a series of runs leaves behind.

Shared by the report and alert tests so they exercise the same tables the pipeline writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from retail_lakehouse.lake import Lake

TABLE = "silver.sales_lines"
DIMENSIONS = ("completeness", "validity")
START = datetime(2026, 1, 1, tzinfo=UTC)


def grade(score: float) -> str:
    return "A" if score >= 95 else "B" if score >= 85 else "C" if score >= 70 else "D"


def write_run(
    lake: Lake,
    run_id: str,
    overall: float,
    *,
    index: int,
    dimensions: dict[str, float] | None = None,
    rules: dict[str, tuple[str, str, int]] | None = None,
    lines: int = 1000,
    table: str = TABLE,
) -> None:
    """One run's scores (overall + dimensions) and per-rule results.

    ``rules`` maps rule name to (dimension, action, lines_failed)."""
    at = START + timedelta(hours=index)
    dims = dimensions if dimensions is not None else {d: overall for d in DIMENSIONS}
    names = ["overall", *dims]
    scores = [overall, *dims.values()]
    lake.write(
        "meta.quality_scores",
        pa.table(
            {
                "run_id": [run_id] * len(names),
                "table_name": [table] * len(names),
                "scope": ["overall"] + ["dimension"] * len(dims),
                "name": names,
                "score": scores,
                "grade": [grade(s) for s in scores],
                "lines_checked": [lines] * len(names),
                "computed_at": [at] * len(names),
            }
        ),
    )
    rules = rules or {}
    if rules:
        lake.write(
            "meta.quality_results",
            pa.table(
                {
                    "run_id": [run_id] * len(rules),
                    "table_name": [table] * len(rules),
                    "rule": list(rules),
                    "dimension": [v[0] for v in rules.values()],
                    "action": [v[1] for v in rules.values()],
                    "weight": [10.0] * len(rules),
                    "lines_checked": [lines] * len(rules),
                    "lines_failed": [v[2] for v in rules.values()],
                    "score": [100.0 * (lines - v[2]) / lines for v in rules.values()],
                    "checked_at": [at] * len(rules),
                }
            ),
        )


def _lines(run_id: str, rows: list[dict[str, object]], *, quarantine: bool) -> pa.Table:
    now = datetime.now(UTC)
    cols: dict[str, list[object]] = {
        "invoice_no": [],
        "stock_code": [],
        "description": [],
        "quantity": [],
        "unit_price": [],
        "invoice_ts": [],
        "customer_id": [],
        "country": [],
        "quality_flags": [],
        "_line_key": [],
        "_batch_id": [],
        "_batch_seq": [],
        "_row_number": [],
        "_record_hash": [],
        "_source_file": [],
        "_run_id": [],
        "_processed_at": [],
    }
    if quarantine:
        cols["quarantine_reasons"] = []
        cols["raw_quantity"] = []
    for i, row in enumerate(rows):
        cols["invoice_no"].append(row.get("invoice_no", f"5{i:05d}"))
        cols["stock_code"].append(row.get("stock_code", "85123A"))
        cols["description"].append(row.get("description", "WHITE HANGING HEART T-LIGHT HOLDER"))
        cols["quantity"].append(row.get("quantity", 6))
        cols["unit_price"].append(row.get("unit_price", Decimal("2.55")))
        cols["invoice_ts"].append(row.get("invoice_ts", datetime(2010, 12, 1, 8, 26)))
        cols["customer_id"].append(row.get("customer_id", "17850"))
        cols["country"].append(row.get("country", "United Kingdom"))
        cols["quality_flags"].append(row.get("flags", []))
        cols["_line_key"].append(hash((run_id, i)))
        cols["_batch_id"].append("b1")
        cols["_batch_seq"].append(1)
        cols["_row_number"].append(row.get("row", i + 2))
        cols["_record_hash"].append(i)
        cols["_source_file"].append(row.get("file", "online_retail.csv"))
        cols["_run_id"].append(run_id)
        cols["_processed_at"].append(now)
        if quarantine:
            cols["quarantine_reasons"].append(row.get("reasons", []))
            cols["raw_quantity"].append(row.get("raw_quantity"))
    return pa.table(cols)


def write_silver(lake: Lake, run_id: str, rows: list[dict[str, object]]) -> None:
    lake.write("silver.sales_lines", _lines(run_id, rows, quarantine=False))


def write_quarantine(lake: Lake, run_id: str, rows: list[dict[str, object]]) -> None:
    lake.write("silver.quarantine", _lines(run_id, rows, quarantine=True))


def sample_lake(root: Path, overall: list[float]) -> tuple[Lake, list[str]]:
    """A lake with one run per score in ``overall`` plus silver/quarantine lines for the last."""
    lake = Lake(root)
    run_ids = [f"20260101T{i:02d}0000-run{i:04d}" for i in range(len(overall))]
    for i, (run_id, score) in enumerate(zip(run_ids, overall, strict=True)):
        write_run(
            lake,
            run_id,
            score,
            index=i,
            dimensions={"completeness": min(100.0, score + 3), "validity": score - 4},
            rules={
                "missing_customer": ("completeness", "warn", 120 + i),
                "zero_quantity": ("validity", "quarantine", 4),
                "future_date": ("timeliness", "warn", 0),
            },
        )
    last = run_ids[-1]
    write_silver(
        lake,
        last,
        [
            {"customer_id": None, "flags": ["missing_customer"], "row": 7},
            {"customer_id": None, "flags": ["missing_customer"], "row": 9, "file": "b<x>.csv"},
            {"flags": []},
        ],
    )
    write_quarantine(
        lake,
        last,
        [
            {"quantity": 0, "reasons": ["zero_quantity"], "row": 12, "raw_quantity": "0"},
            {"quantity": None, "reasons": ["zero_quantity", "missing_quantity"], "row": 13},
        ],
    )
    return lake, run_ids
