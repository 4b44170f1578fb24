"""Undoing: roll the whole lake back to a run, and retract one ingested file.

**Rollback** restores every table (except ``meta.runs``, the audit log of commands, and
``meta.publish_state``, the record of what PostgreSQL holds, which a rollback does not touch) to its
version right after a run, as NEW Delta commits (``DeltaTable.restore``): history is kept, the
rollback is itself a recorded run, and it can be rolled back in turn. Watermarks, the ingestion
manifest and the retractions are tables like any other, so they go back consistently: files
ingested after the target leave ``bronze.files`` and ingesting them again gives the same batch
numbers and the same result. Each table is restored only when its current files differ from
the target's. Stream positions (Delta ``txn`` app transactions, decision 0018) go back with
the data: each restore commit sets every app id the table's log knows to its version at the
target, 0 (nothing consumed) when the target held none, so the next ``retail stream`` reads
the rolled-back records again (``app_ids`` in ``lake/commits.py``). Interrupted, a rollback is
completed by the next command of any kind (:func:`recover_rollback`, named in the run's intent,
see ``lake/intents.py``).

**Retract** takes one bronze batch back: the retraction is recorded first (``meta.retractions``),
then its lines, its rejects and its manifest row are deleted. Silver and gold apply retractions
on their next run, incrementally (see :func:`pending_retractions`). Each step is a delete by
batch number, so an interrupted retraction is completed by the next command of any kind
(:func:`recover_retract`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from retail_lakehouse.lake import faults
from retail_lakehouse.lake.arrays import pylist
from retail_lakehouse.lake.commits import app_ids, app_transactions, commit, last_run
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, BRONZE_REJECTS, BRONZE_SALES_LINES
from retail_lakehouse.lake.contracts.meta import (
    META_PUBLISH_STATE,
    META_RETRACTIONS,
    META_RUNS,
)
from retail_lakehouse.lake.history import (
    AsOf,
    Run,
    StateVacuumedError,
    require_files,
    resolve_as_of,
    runs,
)
from retail_lakehouse.lake.location import add_actions, data_files
from retail_lakehouse.lake.store import Lake
from retail_lakehouse.lake.watermarks import read_watermark, write_watermark

if TYPE_CHECKING:
    from retail_lakehouse.lake.intents import Intent
    from retail_lakehouse.lake.runs import RunContext

ROLLBACK_RECOVERY = "retail_lakehouse.lake.recovery:recover_rollback"
RETRACT_RECOVERY = "retail_lakehouse.lake.recovery:recover_retract"

NOT_ROLLED_BACK = frozenset({META_RUNS.qualified, META_PUBLISH_STATE.qualified})
"""The command log: a rollback adds to it and never erases what ran. And the record of what
PostgreSQL holds (``meta.publish_state``): a rollback does not change PostgreSQL, so the record
stays true; the next publish moves PostgreSQL to the rolled-back gold (decision 0014)."""


class RecoveryRefused(ValueError):
    """A rollback or retraction that cannot be done as asked (a usage error)."""


class AlreadyRetracted(RecoveryRefused):
    """The batch asked for is already out of bronze (a retried retraction): nothing to do."""


# -- rollback ------------------------------------------------------------------------------------


@dataclass
class TableChange:
    table: str
    current: int
    target: int | None  # None: the table did not exist then; it is emptied
    rows_now: int
    rows_then: int


@dataclass
class RollbackPlan:
    """What ``retail rollback --to-run`` will undo, shown before it does anything."""

    target: AsOf
    runs_undone: list[Run] = field(default_factory=list)
    files_undone: list[dict[str, Any]] = field(default_factory=list)
    changes: list[TableChange] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return not self.changes


def plan_rollback(lake: Lake, run_id: str) -> RollbackPlan:
    """The lake's state right after ``run_id`` and what differs from it now."""
    known = {run.run_id: run for run in runs(lake)}
    if run_id not in known:
        raise RecoveryRefused(f"no run {run_id!r} in meta.runs (see `retail history`)")
    _refuse_a_torn_state(known[run_id], list(known.values()))
    target = resolve_as_of(lake, run_id)
    plan = RollbackPlan(target)
    started = known[run_id].started_at
    plan.runs_undone = [
        run
        for run in known.values()
        if run.started_at > started
        and run.status == "succeeded"
        and run.run_id != run_id
        and run.command != "publish"  # its record and PostgreSQL stay: nothing of it undone
    ]
    for name in lake.tables():
        if name in NOT_ROLLED_BACK:
            continue
        table = lake.delta(name)
        if table is None:
            continue
        then = target.versions.get(name)
        now_files = set(data_files(table))
        then_files: set[str] = set()
        rows_then = 0
        if then is not None:
            old = lake.delta(name, then)
            assert old is not None
            then_files = set(data_files(old))  # decoded: a lake folder may hold a space
            try:
                require_files(name, then, then_files, f"the state after run {run_id}")
            except StateVacuumedError as gone:
                raise RecoveryRefused(str(gone)) from None
            rows_then = _rows(old)
        if now_files == then_files and (then is not None or not now_files):
            then_positions = _positions_then(lake, name, table, then)
            now_positions = app_transactions(table, then_positions)
            if then_positions == {i: now_positions.get(i, 0) for i in then_positions}:
                continue  # same data and same stream positions: nothing to restore
        plan.changes.append(TableChange(name, table.version(), then, _rows(table), rows_then))
    plan.files_undone = _files_undone(lake, target)
    return plan


def _refuse_a_torn_state(run: Any, known: list[Any]) -> None:
    """Refuse a run that did not succeed: the lake right after it is where it stopped (a
    killed run's fact committed, its marts and accounting not), which no command produced as
    its result; the run before it that succeeded is named instead."""
    if run.status == "succeeded":
        return
    earlier = [r for r in known if r.status == "succeeded" and r.started_at < run.started_at]
    instead = (
        f"retail rollback --to-run {max(earlier, key=lambda r: r.started_at).run_id} "
        "(the last run that succeeded before it)"
        if earlier
        else "retail rollback --to-run with a run that succeeded before it (see `retail history`)"
    )
    raise RecoveryRefused(
        f"run {run.run_id} was {run.status}: the lake right after it is part-way through that "
        f"command, not a state to return to; use {instead}"
    )


def _rows(table: Any) -> int:
    actions = add_actions(table)
    if not actions.num_rows or "num_records" not in actions.column_names:
        return 0
    return int(sum(v or 0 for v in actions.column("num_records").to_pylist()))


def _files_undone(lake: Lake, target: AsOf) -> list[dict[str, Any]]:
    """The manifest rows now whose batch the target state's manifest does not hold, in batch
    order: one anti-join of the two snapshots run by delta-rs' engine, so only those rows reach
    this process (it loaded every row of both, 1.1 GB at a million file rows)."""
    from deltalake import QueryBuilder

    table = lake.delta(BRONZE_FILES.qualified)
    if table is None:
        return []
    builder = QueryBuilder().register("now_files", table)
    version = target.versions.get(BRONZE_FILES.qualified)
    undone = ""
    if version is not None:
        then = lake.delta(BRONZE_FILES.qualified, version)
        assert then is not None
        builder = builder.register("then_files", then)
        undone = (
            "WHERE NOT EXISTS (SELECT 1 FROM then_files AS t "
            "WHERE t._batch_seq = now_files._batch_seq)"
        )
    found = builder.execute(
        "SELECT _batch_seq, _source_file, rows_ingested FROM now_files "
        f"{undone} ORDER BY _batch_seq"
    ).read_all()
    return pylist(pa.table(found))  # delta-rs answers in arro3's Arrow: read through pyarrow


def apply_rollback(lake: Lake, plan: RollbackPlan, run: RunContext) -> list[str]:
    """Restore each changed table to its target version (one new commit each); returns the
    tables committed. The targets are noted in the run's intent first, so an interrupted
    rollback is completed by the next command (:func:`recover_rollback`)."""
    targets = {change.table: change.target for change in plan.changes}
    run.note(recovery=ROLLBACK_RECOVERY, rollback_targets=targets)
    return _restore(lake, targets)


def _restore(
    lake: Lake, targets: dict[str, int | None], *, skip_run: str | None = None
) -> list[str]:
    """Restore each table to its version (None: empty it), skipping tables whose latest commit
    was made by ``skip_run`` (already restored by the interrupted rollback)."""
    done: list[str] = []
    for name, target in targets.items():
        table = lake.delta(name)
        if table is None or (skip_run is not None and last_run(lake, name) == skip_run):
            continue
        with commit(name, transactions=_positions_then(lake, name, table, target)) as properties:
            if target is None:
                table.delete(commit_properties=properties)
            else:
                table.restore(target, commit_properties=properties)
        done.append(name)
    return done


def _positions_then(lake: Lake, name: str, table: Any, target: int | None) -> dict[str, int]:
    """Every app transaction the table's log knows, at its version ``target`` (0: none then,
    or the table did not exist): what a restore to ``target`` commits so that the stream
    positions go back with the data."""
    ids = app_ids(table)
    if not ids:
        return {}
    old = lake.delta(name, target) if target is not None else None
    then = {} if old is None else app_transactions(old, ids)
    return {app_id: then.get(app_id, 0) for app_id in sorted(ids)}


def recover_rollback(lake: Lake, intent: Intent) -> str:
    """Complete an interrupted rollback: restore the tables it had not restored yet."""
    targets = intent.notes.get("rollback_targets") or {}
    done = _restore(lake, {str(k): v for k, v in targets.items()}, skip_run=intent.run_id)
    return f"rollback completed ({len(done)} more table(s) restored)" if done else ""


# -- retract ---------------------------------------------------------------------------------


SILVER_RETRACTIONS = "silver.retractions"
GOLD_RETRACTIONS = "gold.retractions"


@dataclass(frozen=True)
class Retraction:
    retraction_id: int
    batch_seq: int
    source_file: str
    lines: int
    rejects: int


def find_batch(lake: Lake, *, file: str | None = None, batch: int | None = None) -> dict[str, Any]:
    """The manifest row of the batch to retract: by batch number, or by file (its path as
    ingested, or its name). A half-done retraction of the same batch is returned to finish.

    The manifest is asked by predicate (batch number, exact path, name, content hash): only the
    matching rows reach this process, whatever the number of files the lake has seen."""
    if batch is not None:
        matches = _manifest_rows(lake, f"_batch_seq = {int(batch)}")
        what = f"batch {batch}"
    else:
        assert file is not None
        from retail_lakehouse.pipeline.bronze_manifest import named, text_literal

        exact = f"_source_file = {text_literal(file)}"
        rows = _manifest_rows(lake, f"{exact} OR {named([Path(file).name])}")
        rows = [r for r in rows if same_file(file, r["_source_file"])]
        matches = [r for r in rows if r["_source_file"] == file] or rows
        what = f"file {file!r}"
    if len(matches) > 1:
        listed = ", ".join(f"batch {r['_batch_seq']} ({r['_source_file']})" for r in matches)
        raise RecoveryRefused(
            f"{what} matches several batches: {listed}; name it by its path as ingested, "
            "or retract it by number first: retail retract --batch N"
        )
    if matches:
        return matches[0]
    unfinished = _unfinished(lake, file=file, batch=batch)
    if unfinished is not None:
        return unfinished
    from retail_lakehouse.pipeline.bronze_manifest import named

    which = f"batch_seq = {int(batch)}" if batch is not None else named([Path(str(file)).name])
    earlier = [
        r for r in _retractions(lake, which) if file is None or same_file(file, r["source_file"])
    ]
    for row in earlier[-1:]:  # the last retraction of that batch or file
        raise AlreadyRetracted(
            f"{what} was already retracted (batch {row['batch_seq']}, run {row['run_id']}): "
            "nothing left to do"
        )
    holder = _holder_of_content(lake, file)
    if holder is not None and Path(holder["_source_file"]).name == Path(str(file)).name:
        return holder  # the same bytes and name: the file ingested, moved since (an archive)
    if holder is not None:
        seq = holder["_batch_seq"]
        raise RecoveryRefused(
            f"{what} is not in bronze.files: its content was already in the lake as "
            f"{holder['_source_file']} (batch {seq}) when it was ingested, so it was skipped; "
            f"to take that content out, retract that file: retail retract --batch {seq}"
        )
    raise RecoveryRefused(f"{what} is not in bronze.files (see `retail status`)")


def same_file(given: str, recorded: str) -> bool:
    """Whether ``given`` (what the user typed) may name the file ingested as ``recorded``: the
    folders of the shorter path, as written, end the longer one (``sales.csv`` names every
    ``*/sales.csv``; ``./jan/sales.csv`` and ``/data/jan/sales.csv`` name ``jan/sales.csv``,
    never ``feb/sales.csv``). The manifest's name predicate (``named``) found the candidates;
    this only drops the ones in another folder, so a path the lake no longer holds is never
    taken for another file of its name (which retracted that file)."""
    mine = [part for part in given.split("/") if part not in ("", ".")]
    theirs = [part for part in recorded.split("/") if part not in ("", ".")]
    shorter = min(len(mine), len(theirs))
    return shorter > 0 and mine[-shorter:] == theirs[-shorter:]


def _holder_of_content(lake: Lake, file: str | None) -> dict[str, Any] | None:
    """The manifest row whose content ``file`` (still on disk) has: the ingest skipped it as a
    duplicate of that file. Hashed as the ingest hashes a file (``file_facts``), its bytes as
    given; a file past the size limit was never ingested and is not read."""
    from retail_lakehouse.sources.limits import ReaderLimits
    from retail_lakehouse.sources.sniff import file_facts

    path = Path(file) if file is not None else None
    try:
        if path is None or not path.is_file():
            return None
        if path.stat().st_size > ReaderLimits().max_file_bytes:
            return None
        sha = file_facts(path).sha256
    except OSError:
        return None
    where = f"_source_sha256 = '{sha}' OR content_sha256 = '{sha}'"  # a hex digest: no quoting
    rows = _manifest_rows(lake, where, first_only=True)
    return rows[0] if rows else None


_COLUMNS = "_batch_seq, _batch_id, _source_file, _source_sha256, rows_ingested, rows_rejected"


def _manifest_rows(lake: Lake, where: str, *, first_only: bool = False) -> list[dict[str, Any]]:
    """The manifest rows matching ``where``, in batch order, queried over the latest snapshot
    by delta-rs' engine (``small_query``): only the matches reach this process."""
    from retail_lakehouse.pipeline.bronze_manifest import small_query

    table = lake.delta(BRONZE_FILES.qualified)
    if table is None:
        return []
    if "content_sha256" in table.schema().to_arrow().names:
        content = "content_sha256"
    else:  # lakes from before the column have none
        content = "CAST(NULL AS VARCHAR) AS content_sha256"
    limit = " LIMIT 1" if first_only else ""
    found = small_query(
        lake,
        BRONZE_FILES.qualified,
        f"SELECT * FROM (SELECT {_COLUMNS}, {content} FROM t) WHERE {where} "
        f"ORDER BY _batch_seq{limit}",
    )
    return _as_rows(found)


def _as_rows(found: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """A few rows answered column by column, as one dict per row (for the callers' messages)."""
    names = list(found)
    return [dict(zip(names, values, strict=True)) for values in zip(*found.values(), strict=True)]


_RETRACTION_COLUMNS = (
    "retraction_id, batch_seq, batch_id, source_file, source_sha256, lines, rejects, run_id"
)


def _retractions(lake: Lake, where: str = "TRUE") -> list[dict[str, Any]]:
    """The recorded retractions matching ``where`` (SQL over their columns; ``_source_file`` is
    ``source_file``, for :func:`~retail_lakehouse.pipeline.bronze_manifest.named`), in the
    order they were recorded, asked by predicate like the manifest: the table grows with every
    retraction and each question needs a few rows."""
    from retail_lakehouse.pipeline.bronze_manifest import small_query

    found = small_query(
        lake,
        META_RETRACTIONS.qualified,
        f"SELECT * FROM (SELECT {_RETRACTION_COLUMNS}, source_file AS _source_file FROM t) "
        f"WHERE {where} ORDER BY retraction_id",
    )
    return _as_rows(found)


def _batches_in(seqs: list[int]) -> str:
    return f"batch_seq IN ({', '.join(str(int(s)) for s in sorted(set(seqs)))})"


def _unfinished(lake: Lake, *, file: str | None, batch: int | None) -> dict[str, Any] | None:
    """A recorded retraction whose lines are still in bronze (interrupted): finish it."""
    from retail_lakehouse.pipeline.bronze_manifest import named

    conditions = [] if batch is None else [f"batch_seq = {int(batch)}"]
    conditions += [] if file is None else [named([Path(file).name])]
    for row in reversed(_retractions(lake, " AND ".join(conditions) or "TRUE")):
        if file is not None and not same_file(file, row["source_file"]):
            continue
        if not lake.exists(BRONZE_SALES_LINES.qualified):
            return None
        from retail_lakehouse.lake.query import LakeSQL  # here: recovery loads without DuckDB

        with LakeSQL(lake, tables=[BRONZE_SALES_LINES.qualified]) as sql:
            still = sql.arrow(
                f"SELECT count(*) FROM {BRONZE_SALES_LINES.qualified} WHERE _batch_seq = ?",
                [int(row["batch_seq"])],
            )[0][0].as_py()
        if still:
            return {
                "_batch_seq": row["batch_seq"],
                "_batch_id": row["batch_id"],
                "_source_file": row["source_file"],
                "_source_sha256": row["source_sha256"],
                "rows_ingested": row["lines"],
                "rows_rejected": row["rejects"],
            }
    return None


def retract_batch(
    lake: Lake, manifest_row: dict[str, Any], run: RunContext, *, replaced_by: str | None = None
) -> Retraction:
    """Take one batch out of bronze: record, delete lines, rejects, then the manifest row.

    The batch is noted in the run's intent first: an interrupted retraction is completed by the
    next command (:func:`recover_retract`)."""
    return retract_batches(lake, [manifest_row], run, replaced_by=replaced_by)[0]


def retract_batches(
    lake: Lake,
    manifest_rows: list[dict[str, Any]],
    run: RunContext,
    *,
    replaced_by: str | None = None,
    recovery: str = RETRACT_RECOVERY,
) -> list[Retraction]:
    """Take batches out of bronze together: ONE ``meta.retractions`` commit recording them all,
    then one delete per bronze table. ``recovery`` names what completes the command if it is
    interrupted (a caller with more to finish, CDC's group sync, names its own, which calls
    :func:`recover_retract`)."""
    seqs = [int(row["_batch_seq"]) for row in manifest_rows]
    if not seqs:
        return []
    run.note(recovery=recovery, retract_batches=seqs)
    recorded = {
        int(r["batch_seq"]): int(r["retraction_id"]) for r in _retractions(lake, _batches_in(seqs))
    }
    next_id = _highest(lake, "retraction_id") + 1
    ids: dict[int, int] = {}
    fresh = []
    for row, seq in zip(manifest_rows, seqs, strict=True):
        if seq in recorded:
            ids[seq] = recorded[seq]
            continue
        ids[seq] = next_id
        next_id += 1
        fresh.append(
            {
                "retraction_id": ids[seq],
                "batch_seq": seq,
                "batch_id": row["_batch_id"],
                "source_file": row["_source_file"],
                "source_sha256": row["_source_sha256"],
                "lines": int(row["rows_ingested"]),
                "rejects": int(row["rows_rejected"]),
                "run_id": run.run_id,
                "retracted_at": datetime.now(UTC),
                "replaced_by": replaced_by,
            }
        )
    if fresh:
        lake.write(META_RETRACTIONS.qualified, pa.Table.from_pylist(fresh))
    faults.point("retract.recorded")
    _delete_batches(lake, seqs)
    return [
        Retraction(
            ids[seq],
            seq,
            str(row["_source_file"]),
            int(row["rows_ingested"]),
            int(row["rows_rejected"]),
        )
        for row, seq in zip(manifest_rows, seqs, strict=True)
    ]


def _delete_batches(lake: Lake, seqs: list[int]) -> None:
    listed = ", ".join(str(int(s)) for s in sorted(set(seqs)))
    for target in (BRONZE_SALES_LINES, BRONZE_REJECTS, BRONZE_FILES):
        lake.delete(target.qualified, f"_batch_seq IN ({listed})")


def recover_retract(lake: Lake, intent: Intent) -> str:
    """Complete an interrupted retraction: once recorded, its batches leave bronze (idempotent
    deletes by batch number); not recorded yet, nothing had changed."""
    noted = intent.notes.get("retract_batches")
    if noted is None and intent.notes.get("retract_batch") is not None:
        noted = [intent.notes["retract_batch"]]
    asked = [int(s) for s in noted or []]
    recorded = (
        {int(r["batch_seq"]) for r in _retractions(lake, _batches_in(asked))} if asked else set()
    )
    seqs = [s for s in asked if s in recorded]
    if not seqs:
        return ""
    _delete_batches(lake, seqs)
    which = f"batch {seqs[0]}" if len(seqs) == 1 else f"batches {', '.join(map(str, seqs))}"
    return f"retraction of {which} completed"


def highest_retracted_batch(lake: Lake) -> int:
    """Batch numbers are never reused: the next ingest numbers past retracted ones too."""
    return _highest(lake, "batch_seq")


def _highest(lake: Lake, column: str) -> int:
    """The largest ``column`` of the recorded retractions (0 when there are none)."""
    from retail_lakehouse.pipeline.bronze_manifest import small_query

    found = small_query(lake, META_RETRACTIONS.qualified, f"SELECT max({column}) AS m FROM t")
    return int((found.get("m") or [None])[0] or 0)


@dataclass(frozen=True)
class PendingRetractions:
    """Retractions a layer has not applied yet: ``upto`` is the id to record once it has."""

    upto: int
    batches: frozenset[int]


def pending_retractions(lake: Lake, consumer: str) -> PendingRetractions:
    """Retractions above ``consumer``'s mark (``silver.retractions`` / ``gold.retractions``)."""
    mark = read_watermark(lake, consumer) or 0
    rows = _retractions(lake, f"retraction_id > {int(mark)}")
    upto = max((int(r["retraction_id"]) for r in rows), default=mark)
    return PendingRetractions(upto, frozenset(int(r["batch_seq"]) for r in rows))


def retractions_applied(
    lake: Lake, consumer: str, pending: PendingRetractions, run_id: str
) -> None:
    """Record that ``consumer`` has applied ``pending`` (its last commit for them)."""
    if pending.batches:
        write_watermark(lake, consumer, pending.upto, run_id)
