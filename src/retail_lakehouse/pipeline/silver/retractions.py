"""Retracted bronze batches, taken out of silver on the next run.

Their lines leave ``silver.sales_lines``, ``silver.quarantine`` and ``silver.duplicates`` (a
delete by batch number: repeating it after a crash deletes nothing more). One subtlety: a later
line that was removed as a duplicate OF a retracted line must now be kept. Those later batches
are re-processed from the earliest of them (the usual replace-by-batch pass), and gold's
watermark is lowered to just before it, so gold recomputes the same batches.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.lake import Lake, arrays
from retail_lakehouse.lake.consumers import GOLD_CONSUMER
from retail_lakehouse.lake.contracts.silver import (
    SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    SILVER_SALES_LINES,
)
from retail_lakehouse.lake.watermarks import read_watermark, write_watermark


def remove_retracted(lake: Lake, batches: frozenset[int], run_id: str) -> int | None:
    """Delete the ``batches`` from silver; return the first later batch to re-process (one
    whose duplicates pointed at a retracted line), or None when none did."""
    if not batches:
        return None
    listed = ", ".join(str(int(b)) for b in sorted(batches))
    redo: int | None = None
    if lake.exists(SILVER_DUPLICATES.qualified):
        rows = lake.read(SILVER_DUPLICATES.qualified, ["_batch_seq", "kept_batch_seq"])
        gone = arrays.array(sorted(batches), pa.int64())
        pointing = rows.filter(
            pc.and_(
                pc.is_in(rows.column("kept_batch_seq"), gone),
                pc.invert(pc.is_in(rows.column("_batch_seq"), gone)),
            )
        )
        if pointing.num_rows:
            redo = int(pc.min(pointing.column("_batch_seq")).as_py())
    if redo is not None:  # lowered first: a crash after it only means more work, never less
        gold = read_watermark(lake, GOLD_CONSUMER)
        if gold is not None and gold >= redo:
            write_watermark(lake, GOLD_CONSUMER, redo - 1, run_id)
    for target in (SILVER_SALES_LINES, SILVER_QUARANTINE, SILVER_DUPLICATES):
        lake.delete(target.qualified, f"_batch_seq IN ({listed})")
    return redo
