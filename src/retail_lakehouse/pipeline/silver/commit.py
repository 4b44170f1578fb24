"""Committing a silver pass: idempotent writes keyed by batch, then the watermark, last.

Each silver table is rewritten for the batches of the pass only (``replaceWhere``-style
overwrite with ``_batch_seq >= first batch``), so processing the same batches again after a
crash between these commits and the watermark gives the same content, never doubles. A full
refresh overwrites the tables whole.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.meta import META_WATERMARKS
from retail_lakehouse.lake.contracts.silver import (
    SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    SILVER_SALES_LINES,
)
from retail_lakehouse.pipeline.silver.transform import CONSUMER, SilverPass

_CHUNK = 250_000


def commit_tables(
    lake: Lake, silver_pass: SilverPass, run_id: str, *, full_refresh: bool
) -> dict[str, int]:
    """Write silver lines, quarantine and duplicates for the pass; return rows written."""
    processed_at = datetime.now(UTC)
    outputs = {
        SILVER_SALES_LINES.qualified: silver_pass.silver_rows(run_id, processed_at),
        SILVER_QUARANTINE.qualified: silver_pass.quarantine_rows(run_id, processed_at),
        SILVER_DUPLICATES.qualified: silver_pass.duplicate_rows(run_id),
    }
    expected = {
        SILVER_SALES_LINES.qualified: silver_pass.silver_lines,
        SILVER_QUARANTINE.qualified: silver_pass.quarantined,
        SILVER_DUPLICATES.qualified: silver_pass.duplicates,
    }
    first = min(silver_pass.batches)
    for qualified, expr in outputs.items():
        reader = silver_pass.engine.to_batches(expr, chunk_size=_CHUNK)
        if not lake.exists(qualified):
            lake.write(qualified, reader, mode="append")
        elif full_refresh:
            lake.write(qualified, reader, mode="overwrite")
        else:
            lake.write(qualified, reader, mode="overwrite", predicate=f"_batch_seq >= {first}")
    return expected


def advance_watermark(lake: Lake, batch_seq: int, run_id: str, consumer: str = CONSUMER) -> None:
    """Record that ``consumer`` has processed every batch up to ``batch_seq`` (the last commit)."""
    row = pa.table(
        {
            "consumer": [consumer],
            "batch_seq": [batch_seq],
            "run_id": [run_id],
            "updated_at": [datetime.now(UTC)],
        }
    )
    if lake.exists(META_WATERMARKS.qualified):
        lake.write(
            META_WATERMARKS.qualified, row, mode="overwrite", predicate=f"consumer = '{consumer}'"
        )
    else:
        lake.write(META_WATERMARKS.qualified, row)
