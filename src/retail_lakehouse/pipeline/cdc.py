"""Change events applied to silver in source order: ``retail ingest --cdc FILE``.

The order that counts is the source's (its log position), never the arrival order, as in
Databricks' AUTO CDC / APPLY CHANGES: for each line id the change with the highest log position
is the current state; a late, older change never overwrites a newer one; an event seen before
(same line id and log position) is a no-op; a delete leaves a tombstone. The full history keeps
every distinct change, valid from its position to the next one's.

Both tables are a pure function of the *set* of distinct events per line id, so they are
recomputed, not patched: the line ids are spread over 256 buckets (from the MD5 of the id), and
each ingest rewrites only the buckets its events touch (replace-where on ``_key_bucket``, numbers
this code makes, so no text from the file ever reaches a predicate). Any order, any repetition,
any split into files gives the same tables. An ingest stopped after its events reached
``bronze.cdc_events`` is completed by the next command (:func:`recover_changes`, from the
recovery the intent names): those events are applied again from bronze, which recomputes both
silver tables of their buckets, so ``cdc_lines`` never stays behind ``cdc_history`` (they are
two commits). A retry of the same file then finds every event a duplicate and changes nothing.

Accounting, per ingest: received = rejected (stream only) + duplicates + applied (the event is
its line's current state) + superseded (an older change, kept in the history only); ``deleted``
counts the applied deletes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.lake import Lake, arrays
from retail_lakehouse.lake.contracts.bronze import BRONZE_CDC_EVENTS, RAW_COLUMNS
from retail_lakehouse.lake.contracts.silver import SILVER_CDC_HISTORY, SILVER_CDC_LINES
from retail_lakehouse.lake.intents import scratch_beside
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.runs import RunContext
from retail_lakehouse.lake.staged import staged_path
from retail_lakehouse.pipeline.cdc_batches import CDC_RECOVERY, SyncReport, groups_of, sync_groups
from retail_lakehouse.sources.cdc import (
    ChangeLogRequest,
    change_events,
    read_events_file,
    stage_change_log,
)
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.sandbox import Sandbox
from retail_lakehouse.sources.stream.base import StreamRecord

BUCKETS = 256
IMAGE = ", ".join(f'"{c}"' for c in RAW_COLUMNS)


@dataclass(frozen=True)
class CdcReport:
    """What one change-log file did."""

    received: int
    duplicates: int
    applied: int
    superseded: int
    deleted: int
    rejected: int = 0  # stream events that could not be applied (recorded with a reason)
    synced: SyncReport | None = None  # the group batches that carry the state to gold

    @property
    def balanced(self) -> bool:
        return self.received == self.rejected + self.duplicates + self.applied + self.superseded


def ingest_changes(
    lake: Lake,
    path: Path,
    run: RunContext,
    *,
    sandbox: Sandbox | None = None,
    limits: ReaderLimits | None = None,
) -> CdcReport:
    """Record ``path``'s events in bronze, recompute the touched buckets of silver, then bring
    the touched groups' bronze batches to the new state (gold follows on the next run).

    The file is read in the reader worker (``sandbox``, or one started for this call under
    ``limits``), never in this process; FileRefused when it is refused."""
    events = read_change_log(lake, path, sandbox=sandbox, limits=limits)
    run.note(recovery=CDC_RECOVERY, cdc_events=True)
    _record(lake, run, events, str(path))
    report, buckets = _apply(lake, events, run)
    report = replace(report, synced=sync_groups(lake, run, groups_of(buckets)))
    run.changed = True
    return report


def read_change_log(
    lake: Lake, path: Path, *, sandbox: Sandbox | None = None, limits: ReaderLimits | None = None
) -> pa.Table:
    """The checked events of the change log ``path``, parsed by the reader worker under its
    limits (memory, time, and the JSON limits of every event). The worker writes them to a
    scratch file in ``bronze.cdc_events``' folder (the lake's disk; removed here, or by the next
    command's recovery when this one and its worker die together) and only that file's events
    enter this process: a huge, deep, wide or binary log is refused without being read here."""
    box = sandbox or Sandbox(limits)
    events_file = scratch_beside(staged_path(lake, BRONZE_CDC_EVENTS.qualified), ".arrow")
    try:
        box.call(path, stage_change_log, ChangeLogRequest(path, box.limits, events_file))
        return read_events_file(events_file)
    finally:
        events_file.unlink(missing_ok=True)
        if sandbox is None:
            box.close()


def apply_change_records(
    lake: Lake,
    run: RunContext,
    source_name: str,
    records: Sequence[StreamRecord],
    positions: dict[str, int],
    limits: ReaderLimits | None = None,
) -> CdcReport:
    """``retail stream --cdc``: one micro-batch of change events. Events that cannot be applied
    (past the JSON ``limits`` too) are recorded in ``bronze.cdc_events`` with their reason; the
    stream position rides on the last commit, ``silver.cdc_lines`` (a crash before it reads the
    events again: recorded twice in bronze, duplicates in silver)."""
    lines = pa.table(
        {
            "n": pa.array([r.offset for r in records], pa.int64()),
            "line": pa.array([r.payload.decode("utf-8", "replace") for r in records]),
        }
    )
    events = change_events(lines, limits)
    run.note(recovery=CDC_RECOVERY, cdc_events=True)
    first, last = min(r.offset for r in records), max(r.offset for r in records)
    _record(lake, run, events, f"{source_name}#{first}-{last}")
    good = events.filter(pc.is_null(events["reason"])).drop_columns(["reason"])
    if not good.num_rows:
        lake.write(SILVER_CDC_LINES.qualified, arrays.empty_table(SILVER_CDC_LINES.schema),
                   transactions=positions)  # fmt: skip
        run.changed = True
        return CdcReport(events.num_rows, 0, 0, 0, 0, rejected=events.num_rows)
    report, buckets = _apply(lake, good, run, positions)
    synced = sync_groups(lake, run, groups_of(buckets))
    run.changed = True
    return CdcReport(
        events.num_rows,
        report.duplicates,
        report.applied,
        report.superseded,
        report.deleted,
        rejected=events.num_rows - good.num_rows,
        synced=synced,
    )


def recover_changes(lake: Lake, run: RunContext, recorded_by: str) -> CdcReport | None:
    """Recovery: apply the events run ``recorded_by`` recorded in ``bronze.cdc_events`` (the
    applicable ones) to silver again; its buckets of both silver tables are recomputed, whether
    it stopped before, between or after its two silver commits. None if it recorded nothing."""
    if not lake.exists(BRONZE_CDC_EVENTS.qualified):
        return None
    with LakeSQL(lake, tables=[BRONZE_CDC_EVENTS.qualified]) as sql:
        events = sql.arrow(
            "SELECT * EXCLUDE (reason, _source_file, _ingested_at, _run_id) "
            "FROM bronze.cdc_events WHERE _run_id = ? AND reason IS NULL",
            [recorded_by],
        )
    if not events.num_rows:
        return None
    report, _ = _apply(lake, events, run)
    return report


def _record(lake: Lake, run: RunContext, events: pa.Table, source_file: str) -> None:
    n = events.num_rows
    received = events.append_column("_source_file", pa.array([source_file] * n, pa.string()))
    received = received.append_column(
        "_ingested_at", pa.array([datetime.now(UTC)] * n, pa.timestamp("us", tz="UTC"))
    )
    received = received.append_column("_run_id", pa.array([run.run_id] * n, pa.string()))
    lake.write(BRONZE_CDC_EVENTS.qualified, received)
    run.count(BRONZE_CDC_EVENTS.qualified, rows_out=n)


def _apply(
    lake: Lake, events: pa.Table, run: RunContext, positions: dict[str, int] | None = None
) -> tuple[CdcReport, list[int]]:
    """Recompute the touched buckets of both silver tables; the report and the buckets."""
    new = events  # noqa: F841 - read by DuckDB below
    with duckdb.connect() as con:
        con.execute(
            f"CREATE TEMP TABLE incoming AS SELECT *, "
            f"CAST(md5_number(line_id) % {BUCKETS} AS INTEGER) AS _key_bucket FROM new"
        )
        found = con.execute("SELECT DISTINCT _key_bucket FROM incoming").fetchall()
        buckets = [int(b) for (b,) in found]
        old = _existing_history(lake, buckets)  # noqa: F841 - read by DuckDB below
        con.execute(
            "CREATE TEMP TABLE known AS SELECT line_id, op, log_position, source_ts_ms, "
            f"{IMAGE}, _key_bucket, 0 AS src, 0 AS _row_number FROM old"
        )
        con.execute(  # every distinct event of the touched buckets; the earliest copy wins
            "CREATE TEMP TABLE distinct_events AS SELECT * FROM ("
            "SELECT *, row_number() OVER (PARTITION BY line_id, log_position "
            "ORDER BY src, _row_number) AS copy FROM ("
            "SELECT * FROM known UNION ALL "
            f"SELECT line_id, op, log_position, source_ts_ms, {IMAGE}, _key_bucket, 1 AS src, "
            "_row_number FROM incoming)) WHERE copy = 1"
        )
        con.execute(
            "CREATE TEMP TABLE history AS SELECT line_id, op, log_position, source_ts_ms, "
            f"{IMAGE}, make_timestamptz(source_ts_ms * 1000) AS valid_from, "
            "lead(make_timestamptz(source_ts_ms * 1000)) OVER w AS valid_to, "
            "lead(log_position) OVER w AS valid_to_position, "
            "lead(log_position) OVER w IS NULL AS is_current, op = 'd' AS is_deleted, "
            "_key_bucket, src FROM distinct_events "
            "WINDOW w AS (PARTITION BY line_id ORDER BY log_position)"
        )
        counts = con.execute(
            "SELECT count(*) FILTER (WHERE src = 1) AS fresh, "
            "count(*) FILTER (WHERE src = 1 AND is_current) AS applied, "
            "count(*) FILTER (WHERE src = 1 AND is_current AND is_deleted) AS deleted "
            "FROM history"
        ).fetchone()
        assert counts is not None
        history = con.execute(
            f"SELECT * EXCLUDE (src), '{_quoted(run.run_id)}' AS _run_id FROM history"
        ).to_arrow_table()
        current = con.execute(
            f"SELECT line_id, {IMAGE}, op, log_position, source_ts_ms, is_deleted, _key_bucket, "
            f"'{_quoted(run.run_id)}' AS _run_id FROM history WHERE is_current"
        ).to_arrow_table()
    where = f"_key_bucket IN ({', '.join(str(int(b)) for b in sorted(buckets))})"
    _replace(lake, SILVER_CDC_HISTORY.qualified, history, where)
    _replace(lake, SILVER_CDC_LINES.qualified, current, where, positions)
    run.count(SILVER_CDC_HISTORY.qualified, rows_out=history.num_rows)
    run.count(SILVER_CDC_LINES.qualified, rows_out=current.num_rows)
    fresh, applied, deleted = (int(v) for v in counts)
    report = CdcReport(
        received=events.num_rows,
        duplicates=events.num_rows - fresh,
        applied=applied,
        superseded=fresh - applied,
        deleted=deleted,
    )
    return report, buckets


def _existing_history(lake: Lake, buckets: list[int]) -> pa.Table:
    if not buckets or not lake.exists(SILVER_CDC_HISTORY.qualified):
        return arrays.empty_table(SILVER_CDC_HISTORY.schema)
    with LakeSQL(lake, tables=[SILVER_CDC_HISTORY.qualified]) as sql:
        return sql.arrow(
            "SELECT * FROM silver.cdc_history WHERE list_contains(?, _key_bucket)", [buckets]
        )


def _replace(
    lake: Lake,
    qualified: str,
    data: pa.Table,
    where: str,
    positions: dict[str, int] | None = None,
) -> None:
    if lake.exists(qualified):
        lake.write(qualified, data, mode="overwrite", predicate=where, transactions=positions)
    else:
        lake.write(qualified, data, transactions=positions)


def _quoted(text: str) -> str:
    return text.replace("'", "''")
