"""One stream micro-batch into bronze, exactly once: the stream's counterpart of ingesting a file.

A micro-batch is a bronze batch like a file, committed through the same group commit
(:func:`retail_lakehouse.pipeline.bronze.commit_group`): its lines in ONE Delta transaction, its
rejects, its schema change, then its manifest row in ``bronze.files``. The manifest commit is the
point of no return, and it also carries the stream position the batch covers as Delta
transaction identifiers (``txn``: app id = the source and partition, version = the highest
offset), so data and position are committed together (decision 0018). A crash before it leaves
orphan lines that :func:`~retail_lakehouse.pipeline.bronze.remove_orphans` deletes (at the
stream's start, as before any run) and a position not advanced, so the records are read again;
a crash after it leaves records that come back from the broker and are skipped, their offsets
being at or below the committed one.

``_source_file`` names the stream and the offset range (``nats://host:4222/STREAM/subject#101-600``),
``_row_number`` is the record's offset and so is a reject's ``line_number``: every line traces
back to its message. Silver and gold then process stream batches exactly like files.

The events are parsed in this process, not in the reader worker that isolates files: they are
small (a broker caps a message at 1 MB by default) and checked against the same limits (depth
measured before any JSON parser sees them) by
:func:`~retail_lakehouse.sources.stream.events.parse_events`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import pyarrow.parquet as pq

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts import contract
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, BRONZE_REJECTS
from retail_lakehouse.lake.runs import RunContext
from retail_lakehouse.lake.staged import discard, staged_path
from retail_lakehouse.lake.store import cast_batch
from retail_lakehouse.pipeline.bronze import LINES, ManifestState, commit_group, compact_manifests
from retail_lakehouse.pipeline.bronze_stage import (
    Lineage,
    Staged,
    lineage_batches,
    reject_table,
    write_lines,
)
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.records import SourceChunk, SourceLayout
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
    limits: ReaderLimits | None = None,
) -> BatchReport:
    """Commit ``records`` (all new: above the committed offsets) as one bronze batch whose
    manifest commit sets the transaction identifiers ``positions`` (app id -> offset)."""
    limits = limits or ReaderLimits()
    state = ManifestState.load(lake)
    chunk, layout = parse_events(records, limits, state.known_extra)
    first = min(r.offset for r in records)
    last = max(r.offset for r in records)
    source_file = f"{source_name}#{first}-{last}"
    digest = hashlib.sha256(f"{source_file}\n".encode())
    for record in records:  # the content hash covers every payload (C speed, one call each)
        digest.update(record.payload)
    staged = stage_chunk(
        lake,
        state,
        chunk,
        layout,
        source_file,
        digest.hexdigest(),
        sum(len(r.payload) for r in records),
        limits,
    )
    commit_group(lake, run, [staged], transactions=positions)
    compact_manifests(lake)
    return BatchReport(staged.lineage.batch_seq, first, last, staged.rows, staged.rejected)


def stage_chunk(
    lake: Lake,
    state: ManifestState,
    chunk: SourceChunk,
    layout: SourceLayout,
    source_file: str,
    sha256: str,
    size_bytes: int,
    limits: ReaderLimits,
) -> Staged:
    """Stage one chunk of rows that has no file behind it (a stream micro-batch, a CDC group)
    as the next bronze batch: its lines (hashed, with lineage) and rejects as Parquet files for
    :func:`~retail_lakehouse.pipeline.bronze.commit_group`. ``state`` advances as a file's
    does (batch number, schema version, known extra columns)."""
    new_columns = [c for c in layout.extra_columns if c not in state.known_extra]
    batch_seq = state.next_seq
    version = state.schema_version + (1 if new_columns or state.schema_version == 0 else 0)
    lineage = Lineage(
        source_file,
        sha256,
        f"b{batch_seq:06d}-{sha256[:12]}",
        batch_seq,
        datetime.now(UTC),
        version,
    )
    files = [staged_path(lake, LINES)]
    try:
        counted = [0]
        rejected: list[pl.DataFrame] = []  # the chunk's rejects and the values set aside
        batches = lineage_batches(iter([chunk]), layout, lineage, rejected, counted)
        write_lines(batches, layout, files[0], limits)
        refused = pl.concat(rejected) if rejected else None
        if refused is not None and refused.height:
            files.append(staged_path(lake, BRONZE_REJECTS.qualified))
            table = cast_batch(reject_table(refused, lineage), contract(BRONZE_REJECTS.qualified))
            pq.write_table(table, files[1], compression="snappy")
    except BaseException:
        discard(files)
        raise
    staged = Staged(
        layout,
        lineage,
        new_columns,
        counted[0],
        0 if refused is None else refused.height,
        0,
        files,
        size_bytes=size_bytes,
        first=state.schema_version == 0,
    )
    state.next_seq += 1
    state.schema_version = version
    state.known_extra += new_columns
    return staged
