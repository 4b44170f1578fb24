"""One stream micro-batch into bronze, exactly once: the stream's counterpart of ingesting a file.

A micro-batch is a bronze batch like a file: its lines are committed in ONE Delta transaction
(the same staged-Parquet path as a file's), then its rejects, then its manifest row in
``bronze.files``. The manifest commit is the point of no return, and it also carries the stream
position the batch covers as Delta transaction identifiers (``txn``: app id = the source and
partition, version = the highest offset), so data and position are committed together
(decision 0018). A crash before it leaves orphan lines that :func:`remove_orphans` deletes (at the
stream's start, like before any ingest or run) and a position that was not advanced, so the
records are read again; a crash after it leaves records that come back from the broker and are
skipped, their offsets being at or below the committed one.

``_source_file`` names the stream and the offset range (``nats://host:4222/STREAM/subject#101-600``),
``_row_number`` is the record's offset and ``line_number`` of a reject too, so every line traces
back to the message it came from. Silver and gold process stream batches exactly like files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, BRONZE_REJECTS
from retail_lakehouse.lake.contracts.meta import META_SCHEMA_HISTORY
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.recovery import highest_retracted_batch
from retail_lakehouse.lake.runs import RunContext
from retail_lakehouse.pipeline import bronze
from retail_lakehouse.sources.stream.base import StreamRecord
from retail_lakehouse.sources.stream.events import parse_events

POSITIONS_TABLE = BRONZE_FILES.qualified
"""The table whose commits carry the stream positions (the manifest: the point of no return)."""


@dataclass(frozen=True)
class BatchReport:
    """What one micro-batch committed."""

    batch_seq: int
    first_offset: int
    last_offset: int
    lines: int
    rejected: int


def committed_offset(lake: Lake, app_id: str) -> int:
    """The highest offset of a partition committed to the lake (0: none yet)."""
    return lake.transaction_version(POSITIONS_TABLE, app_id) or 0


def commit_batch(
    lake: Lake,
    run: RunContext,
    source_name: str,
    records: Sequence[StreamRecord],
    positions: dict[str, int],
) -> BatchReport:
    """Commit ``records`` (all new: above the committed offsets) as one bronze batch whose
    manifest commit sets the transaction identifiers ``positions`` (app id -> offset)."""
    chunk, layout = parse_events(records)
    first = min(r.offset for r in records)
    last = max(r.offset for r in records)
    digest = hashlib.sha256(f"{source_name}#{first}-{last}\n".encode())
    for record in records:  # the content hash covers every payload (C speed, one call each)
        digest.update(record.payload)
    sha256 = digest.hexdigest()
    with LakeSQL(lake, tables=[POSITIONS_TABLE, META_SCHEMA_HISTORY.qualified]) as sql:
        seq = sql.arrow("SELECT coalesce(max(_batch_seq), 0) + 1 AS s FROM bronze.files")
        batch_seq: int = max(seq.column("s")[0].as_py(), highest_retracted_batch(lake) + 1)
        schema_version = bronze._schema_version(sql)
    new_columns = bronze._new_columns(lake, layout)
    if new_columns or schema_version == 0:
        schema_version += 1
    now = datetime.now(UTC)
    source_file = f"{source_name}#{first}-{last}"
    lineage = bronze._Lineage(
        source_file, sha256, f"b{batch_seq:06d}-{sha256[:12]}", batch_seq, now, schema_version
    )
    counted = [0]
    rejected: list[pl.DataFrame] = []  # the chunk's rejects (committed below from the chunk)
    batches = bronze._lineage_batches(iter([chunk]), layout, lineage, rejected, counted)
    bronze._commit_lines(lake, batches, layout)
    if chunk.rejects.height:
        lake.write(BRONZE_REJECTS.qualified, bronze._reject_table(chunk.rejects, lineage))
    if new_columns or schema_version == 1:
        bronze._record_schema_change(lake, run, lineage, layout, new_columns)
    lake.write(
        POSITIONS_TABLE,
        pa.table(
            {
                "_batch_id": [lineage.batch_id],
                "_batch_seq": [batch_seq],
                "_source_file": [source_file],
                "_source_sha256": [sha256],
                "format": [layout.format],
                "encoding": [layout.encoding],
                "delimiter": [None],
                "size_bytes": [sum(len(r.payload) for r in records)],
                "rows_ingested": [counted[0]],
                "rows_rejected": [chunk.rejects.height],
                "extra_columns": [layout.extra_columns],
                "run_id": [run.run_id],
                "_ingested_at": [now],
            }
        ),
        transactions=positions,
    )
    run.count(bronze.LINES, rows_out=counted[0])
    run.count(BRONZE_REJECTS.qualified, rows_out=chunk.rejects.height)
    run.changed = True
    return BatchReport(batch_seq, first, last, counted[0], chunk.rejects.height)
