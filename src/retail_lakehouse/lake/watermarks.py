"""How far each layer has read: one ``meta.watermarks`` row per consumer (``silver``, ``gold``).

A layer processes the batches above its own watermark (up to its input's, for gold) and writes
its watermark last, after every table of the layer is committed: a crash in between only means
the same batches are processed again, and every layer write is an idempotent overwrite keyed by
batch, so the result is the same. Silver and gold share this one implementation.
"""

from __future__ import annotations

from datetime import UTC, datetime

from retail_lakehouse.lake import Lake, arrays
from retail_lakehouse.lake.contracts.meta import META_WATERMARKS

# Read through ``Lake.read`` (DuckDB over the snapshot's files), not delta-rs'
# ``to_pyarrow_table``: that imports ``pyarrow.dataset``, which imports pandas (0.2 s a run).


def read_watermark(lake: Lake, consumer: str) -> int | None:
    """Highest bronze batch sequence ``consumer`` has processed, or None before its first run."""
    if not lake.exists(META_WATERMARKS.qualified):
        return None
    rows = lake.read(META_WATERMARKS.qualified, ["consumer", "batch_seq"]).to_pylist()
    mine: list[int] = [row["batch_seq"] for row in rows if row["consumer"] == consumer]
    return max(mine) if mine else None


def write_watermark(
    lake: Lake, consumer: str, batch_seq: int, run_id: str, time_zone: str | None = None
) -> None:
    """Replace ``consumer``'s watermark row (one small Delta commit). ``time_zone``: the zone
    the consumer's tables are now built in (silver says it); None keeps the row's."""
    if time_zone is None:
        time_zone = recorded_time_zone(lake, consumer)
    row = arrays.table(
        {
            "consumer": [consumer],
            "batch_seq": [batch_seq],
            "run_id": [run_id],
            "updated_at": [datetime.now(UTC)],
            "time_zone": [time_zone],
        },
        META_WATERMARKS.schema,
    )
    if lake.exists(META_WATERMARKS.qualified):
        lake.write(
            META_WATERMARKS.qualified, row, mode="overwrite", predicate=f"consumer = '{consumer}'"
        )
    else:
        lake.write(META_WATERMARKS.qualified, row)


def watermark_runs(lake: Lake) -> dict[str, str]:
    """Which run wrote each consumer's watermark (what recovery asks: "did run R finish?")."""
    if not lake.exists(META_WATERMARKS.qualified):
        return {}
    rows = lake.read(META_WATERMARKS.qualified, ["consumer", "run_id"]).to_pylist()
    return {row["consumer"]: row["run_id"] for row in rows}


def recorded_time_zone(lake: Lake, consumer: str) -> str | None:
    """The time zone ``consumer``'s watermark says its tables were built in: None before its
    first run, ``UTC`` for a lake built before the zone was recorded (the only zone there was)."""
    table = lake.delta(META_WATERMARKS.qualified)
    if table is None:
        return None
    # Only the columns needed: reading ``updated_at`` (zoned) cost 0.2 CPU-s of imports. A
    # lake from before the zone has no such column in any file.
    zoned = any(field.name == "time_zone" for field in table.schema().fields)
    columns = ["consumer", "time_zone"] if zoned else ["consumer"]
    rows = lake.read(META_WATERMARKS.qualified, columns).to_pylist()
    mine = [row for row in rows if row["consumer"] == consumer]
    if not mine:
        return None
    zone = mine[0].get("time_zone")
    return str(zone) if zone else "UTC"
