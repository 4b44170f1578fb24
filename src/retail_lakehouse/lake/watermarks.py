"""How far each layer has read: one ``meta.watermarks`` row per consumer (``silver``, ``gold``).

A layer processes the batches above its own watermark (up to its input's, for gold) and writes
its watermark last, after every table of the layer is committed: a crash in between only means
the same batches are processed again, and every layer write is an idempotent overwrite keyed by
batch, so the result is the same. Silver and gold share this one implementation.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.meta import META_WATERMARKS

GOLD_CONSUMER = "gold"
SILVER_CONSUMER = "silver"


def read_watermark(lake: Lake, consumer: str) -> int | None:
    """Highest bronze batch sequence ``consumer`` has processed, or None before its first run."""
    table = lake.delta(META_WATERMARKS.qualified)
    if table is None:
        return None
    rows: pa.Table = table.to_pyarrow_table(columns=["consumer", "batch_seq"])
    mine = rows.filter(pc.equal(rows.column("consumer"), consumer))
    if mine.num_rows == 0:
        return None
    value: int | None = pc.max(mine.column("batch_seq")).as_py()
    return value


def write_watermark(lake: Lake, consumer: str, batch_seq: int, run_id: str) -> None:
    """Replace ``consumer``'s watermark row (one small Delta commit)."""
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


def watermark_runs(lake: Lake) -> dict[str, str]:
    """Which run wrote each consumer's watermark (what recovery asks: "did run R finish?")."""
    table = lake.delta(META_WATERMARKS.qualified)
    if table is None:
        return {}
    rows = table.to_pyarrow_table(columns=["consumer", "run_id"]).to_pylist()
    return {row["consumer"]: row["run_id"] for row in rows}
