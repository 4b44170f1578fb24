"""Gold follows change data capture: the current CDC state, as bronze batches, one per group.

``silver.cdc_lines`` holds the current state of every source line (:mod:`.cdc`). To reach the
fact, the dimensions and the marts it goes through the path every line takes, with no second
copy of a transformation: the line ids are split into :data:`GROUPS` fixed groups (from the
same MD5 bucket the CDC tables are partitioned by), and each group's live (not deleted) lines
are ONE bronze batch (``format = 'cdc'``, ``_source_file = cdc:silver.cdc_lines#group-07``,
``_source_sha256`` = a digest of the group's state). When a change moves a group's state, the
group gets a new batch and its previous batch is retracted, in the same command. The next
``retail run`` then does what it does for any new and retracted batch: silver standardises,
deduplicates and checks the new lines and removes the retracted ones; gold recomputes the
invoices, customers (SCD2), products, days and months they touch, incrementally.

Cost: a change re-emits its whole group (1/16 of the live lines); duplicates and a change that
puts a line back as it was leave the digest unchanged and cost nothing.

Restartable: the sync is a pure function of ``silver.cdc_lines``. The command's intent names
:func:`recover_cdc`, which undoes a half-committed group (:func:`recover_ingest`), completes a
recorded retraction (:func:`recover_retract`), then syncs every group again: a group whose live
batch already has the right digest is left alone, a group with two (killed between the new
batch and the retraction) keeps the right one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.arrays import pylist
from retail_lakehouse.lake.commits import current_run
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, RAW_COLUMNS
from retail_lakehouse.lake.contracts.silver import SILVER_CDC_LINES
from retail_lakehouse.lake.intents import Intent
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.recovery import recover_retract, retract_batches
from retail_lakehouse.lake.runs import RunContext
from retail_lakehouse.lake.staged import discard
from retail_lakehouse.pipeline.bronze import (
    ManifestState,
    commit_group,
    compact_manifests,
    recover_ingest,
)
from retail_lakehouse.pipeline.bronze_stage import Staged
from retail_lakehouse.pipeline.stream_batch import stage_chunk
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.records import SourceChunk, SourceLayout

GROUPS = 16
FORMAT = "cdc"
SOURCE = f"cdc:{SILVER_CDC_LINES.qualified}"
CDC_RECOVERY = "retail_lakehouse.pipeline.cdc_batches:recover_cdc"
IMAGE = ", ".join(f'"{c}"' for c in RAW_COLUMNS)


def group_source(group: int) -> str:
    """The ``_source_file`` of a group's batches."""
    return f"{SOURCE}#group-{group:02d}"


def groups_of(buckets: Iterable[int]) -> set[int]:
    """The groups that hold the given CDC key buckets."""
    return {int(b) % GROUPS for b in buckets}


@dataclass(frozen=True)
class SyncReport:
    """What one sync did: groups re-emitted, batches retracted, lines now live in them."""

    emitted: list[int]
    retracted: list[int]
    lines: int

    def describe(self) -> str:
        if not self.emitted and not self.retracted:
            return "bronze already holds the current state"
        return (
            f"{len(self.emitted)} group batch(es) written ({self.lines:,} line(s)), "
            f"{len(self.retracted)} superseded batch(es) retracted; the next `retail run` "
            "carries the change into silver and gold"
        )


def sync_groups(
    lake: Lake,
    run: RunContext,
    groups: Iterable[int] | None = None,
    limits: ReaderLimits | None = None,
) -> SyncReport:
    """Make the bronze batch of each of ``groups`` (all when None) hold exactly the group's
    live CDC lines. Notes the intent first, so an interruption is finished by
    :func:`recover_cdc`."""
    wanted = sorted(set(range(GROUPS) if groups is None else groups))
    if not wanted or not lake.exists(SILVER_CDC_LINES.qualified):
        return SyncReport([], [], 0)
    run.note(recovery=CDC_RECOVERY)
    rows, digests = _states(lake, wanted)
    live = _live_batches(lake)
    state = ManifestState.load(lake)
    limits = limits or ReaderLimits()
    staged: list[Staged] = []
    superseded: list[dict[str, Any]] = []
    lines = 0
    try:
        for group in wanted:
            digest = digests.get(group)
            batches = live.get(group, [])
            keep = max(
                (b for b in batches if b["_source_sha256"] == digest),
                key=lambda b: int(b["_batch_seq"]),
                default=None,
            )
            superseded += [b for b in batches if b is not keep]
            if keep is None and digest is not None:
                chunk = _chunk(rows.filter(pl.col("_group") == group))
                layout = SourceLayout(FORMAT, list(RAW_COLUMNS), [], ["line_id", *RAW_COLUMNS])
                staged.append(
                    stage_chunk(
                        lake,
                        state,
                        chunk,
                        layout,
                        group_source(group),
                        digest,
                        int(chunk.rows.estimated_size()),
                        limits,
                    )
                )
                lines += chunk.rows.height
    except BaseException:
        discard([f for s in staged for f in s.files])
        raise
    if staged:
        commit_group(lake, run, staged, recovery=CDC_RECOVERY)
    retract_batches(lake, superseded, run, replaced_by=SOURCE, recovery=CDC_RECOVERY)
    if staged or superseded:
        compact_manifests(lake)
        run.changed = True
    return SyncReport(
        [int(s.lineage.batch_seq) for s in staged],
        [int(b["_batch_seq"]) for b in superseded],
        lines,
    )


def _states(lake: Lake, groups: list[int]) -> tuple[pl.DataFrame, dict[int, str]]:
    """The live lines of ``groups`` (ordered by line id) and each group's digest; a group
    whose lines are all deleted (or that has none) has no digest."""
    with LakeSQL(lake, tables=[SILVER_CDC_LINES.qualified]) as sql:
        live = (
            f"SELECT CAST(_key_bucket % {GROUPS} AS INTEGER) AS _group, line_id, {IMAGE} "
            f"FROM {SILVER_CDC_LINES.qualified} "
            f"WHERE NOT is_deleted AND list_contains(?, CAST(_key_bucket % {GROUPS} AS INTEGER))"
        )
        rows = sql.arrow(f"{live} ORDER BY _group, line_id", [groups])
        fields = ", ".join(f"coalesce({c}, chr(0))" for c in ["line_id", *IMAGE.split(", ")])
        found = sql.arrow(
            f"SELECT _group, sha256(string_agg(concat_ws(chr(31), {fields}), chr(30) "
            f"ORDER BY line_id)) AS digest FROM ({live}) GROUP BY _group",
            [groups],
        )
    digests = dict(
        zip(found.column("_group").to_pylist(), found.column("digest").to_pylist(), strict=True)
    )
    return pl.from_arrow(rows), digests  # type: ignore[return-value]


def _chunk(rows: pl.DataFrame) -> SourceChunk:
    """A group's lines as a reader's chunk: the row image as text, ``_row_number`` = the
    line's place in line-id order."""
    data = rows.select(
        *[pl.col(c).cast(pl.String) for c in RAW_COLUMNS],
        pl.int_range(1, rows.height + 1, dtype=pl.Int64).alias("_row_number"),
    )
    return SourceChunk(data)


def _live_batches(lake: Lake) -> dict[int, list[dict[str, Any]]]:
    """The manifest rows of the CDC group batches now in bronze, by group."""
    if not lake.exists(BRONZE_FILES.qualified):
        return {}
    columns = [
        "_batch_seq",
        "_batch_id",
        "_source_file",
        "_source_sha256",
        "rows_ingested",
        "rows_rejected",
        "format",
    ]
    with LakeSQL(lake, tables=[BRONZE_FILES.qualified]) as sql:  # the CDC rows only: the
        # manifest grows with every file and stream micro-batch (a million rows: 160 MB read)
        manifest = sql.arrow(
            f"SELECT {', '.join(columns)} FROM {BRONZE_FILES.qualified} WHERE format = ?",
            [FORMAT],
        )
    found: dict[int, list[dict[str, Any]]] = {}
    prefix = f"{SOURCE}#group-"
    for row in pylist(manifest):
        source = str(row["_source_file"])
        if source.startswith(prefix):
            found.setdefault(int(source[len(prefix) :]), []).append(row)
    return found


def recover_cdc(lake: Lake, intent: Intent) -> str:
    """Finish an interrupted CDC command: undo its uncommitted group batch, complete its
    recorded retractions, apply the change events it recorded in bronze to silver again (it
    may have stopped before or between its two silver commits), then bring every group's batch
    to the current CDC state."""
    done = [recover_ingest(lake, intent), recover_retract(lake, intent)]
    tag = current_run()
    run = RunContext(
        tag.run_id if tag else intent.run_id,
        tag.command if tag else intent.command,
        datetime.now(UTC),
        intent=intent,  # what this sync commits is noted in the interrupted command's intent
    )
    if intent.notes.get("cdc_events"):
        from retail_lakehouse.pipeline.cdc import recover_changes

        applied = recover_changes(lake, run, intent.run_id)
        if applied is not None:
            done.append(f"{applied.received:,} recorded change event(s) applied to silver again")
    report = sync_groups(lake, run)
    if report.emitted or report.retracted:
        done.append(report.describe())
    return "; ".join(d for d in done if d)
