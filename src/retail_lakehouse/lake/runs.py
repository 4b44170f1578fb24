"""``meta.runs``: one row per command that changed the lake, and the frame every writing command
runs in.

Every writing command runs inside :func:`recorded_run`, which takes the lake's writer lock,
first recovers what interrupted commands left (:mod:`retail_lakehouse.lake.intents`), records
its own intent, tags every commit with its run id (:mod:`retail_lakehouse.lake.commits`), and
writes its ``meta.runs`` row when it ends. A command killed before that row is written is
recorded as ``interrupted`` by the next command's recovery, so "what ran, when, with what
result" is answered by the lake itself, never by a log file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retail_lakehouse.interrupts import ctrl_c_pressed
from retail_lakehouse.lake import arrays, intents
from retail_lakehouse.lake.commits import tagged
from retail_lakehouse.lake.contracts.meta import META_RUNS
from retail_lakehouse.lake.lake_format import check_and_record
from retail_lakehouse.lake.store import Lake

if TYPE_CHECKING:
    from retail_lakehouse.observe.command import CommandObserver

log = logging.getLogger(__name__)


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id such as ``20261123T012400-3f9a1c2b``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunContext:
    """What a command reports about itself while it runs."""

    run_id: str
    command: str
    started_at: datetime
    engine: str | None = None
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    changed: bool = False
    sources: list[Path] = field(default_factory=list)  # files read (lineage inputs)
    external: list[tuple[str, str, int]] = field(default_factory=list)
    """Datasets written outside the lake (namespace, name, rows): publish's PostgreSQL tables."""
    observer: CommandObserver | None = None  # logs, lineage and metrics of the command
    intent: intents.Intent | None = None
    recovered: list[str] = field(default_factory=list)  # what this command repaired first
    refused: str | None = None
    """Why the command refuses its request (it then exits 2): set instead of raising, so the
    frame ends normally (nothing of the command's to undo) and records a refusal, not "idle"."""

    def refuse(self, reason: str) -> None:
        """End this command as refused: logged as ``command refused``, its lineage run FAILs
        with the reason, and no ``meta.runs`` row (unless it also changed the lake)."""
        self.refused = reason

    def count(self, table: str, *, rows_in: int | None = None, rows_out: int | None = None) -> None:
        """Add to the rows read from / written to ``table`` by this run."""
        entry = self.rows.setdefault(table, {"in": 0, "out": 0})
        entry["in"] += rows_in or 0
        entry["out"] += rows_out or 0
        if rows_out:
            self.changed = True

    def note(self, *, recovery: str | None = None, **values: Any) -> None:
        """Record progress in the run's intent, durable before the step it announces.

        ``recovery`` (``package.module:function``) names what completes or undoes the work if
        the command is interrupted from here on (see :mod:`retail_lakehouse.lake.intents`)."""
        if self.intent is not None:
            self.intent.note(recovery=recovery, **values)


@contextlib.contextmanager
def recorded_run(
    lake: Lake,
    command: str,
    *,
    engine: str | None = None,
    lock: bool = True,
    recovery: str | None = None,
) -> Iterator[RunContext]:
    """Run a writing command under the writer lock, restartable, and recorded in ``meta.runs``.

    ``recovery`` names the function (``package.module:function``) that completes or undoes this
    command if it is interrupted (see :mod:`retail_lakehouse.lake.intents`). A successful
    command is recorded when it changed something; a failed one always is, with its error,
    after its own partial work has been undone."""
    guard = lake.writer_lock(command) if lock else contextlib.nullcontext()
    with guard:
        check_and_record(lake.root)  # a lake in a newer format is refused before any write
        started = datetime.now(UTC)
        clock = time.perf_counter()
        ctx = RunContext(new_run_id(started), command, started, engine)
        from retail_lakehouse.observe.command import CommandObserver

        observer = ctx.observer = CommandObserver(lake, ctx)
        with tagged(ctx.run_id, command):
            observer.started()
            left = intents.pending(lake)
            ctx.recovered = intents.recover_all(lake)
            observer.aborted(left)
            intent = ctx.intent = intents.begin(lake, ctx.run_id, command, recovery)
            try:
                yield ctx
                if ctx.changed:
                    _record(lake, ctx, "succeeded", None, clock)
            except BaseException as error:
                status, reason = "failed", f"{type(error).__name__}: {error}"
                if isinstance(error, KeyboardInterrupt) or ctrl_c_pressed():
                    status, reason = "interrupted", "interrupted by the user (Ctrl-C)"
                try:  # undo its own partial work now, and record the failed run
                    intents.recover(lake, intent, status=status, error=reason)
                except Exception as again:  # the next command recovers it instead
                    log.warning("could not undo the failed %s now: %s", command, again)
                observer.finished("failed", reason)
                raise
            intents.end(intent)
        observer.finished(_outcome(ctx), ctx.refused)


def _outcome(ctx: RunContext) -> str:
    """A refusal that took nothing is ``refused``; one that also did work (some files of an
    ingest ingested, others refused) succeeded, and says its refusals as its error."""
    if ctx.changed:
        return "succeeded"
    return "refused" if ctx.refused is not None else "idle"


def _record(lake: Lake, ctx: RunContext, status: str, error: str | None, clock: float) -> None:
    record_run(
        lake,
        run_id=ctx.run_id,
        command=ctx.command,
        started_at=ctx.started_at,
        status=status,
        error=error,
        rows=ctx.rows,
        engine=ctx.engine,
        seconds=round(time.perf_counter() - clock, 3),
    )


def record_run(
    lake: Lake,
    *,
    run_id: str,
    command: str,
    started_at: datetime | float,
    status: str,
    error: str | None = None,
    rows: dict[str, dict[str, int]] | None = None,
    engine: str | None = None,
    seconds: float | None = None,
    if_absent: bool = False,
) -> None:
    """Append one ``meta.runs`` row (with ``if_absent``, only when the run has none yet)."""
    if if_absent and _has_run(lake, run_id):
        return
    started = (
        started_at if isinstance(started_at, datetime) else datetime.fromtimestamp(started_at, UTC)
    )
    finished = datetime.now(UTC)
    if seconds is None:
        seconds = round((finished - started).total_seconds(), 3)
    row: dict[str, list[Any]] = {
        "run_id": [run_id],
        "command": [command],
        "started_at": [started],
        "finished_at": [finished],
        "status": [status],
        "rows": [json.dumps(rows or {}, sort_keys=True)],
        "error": [error],
        "engine": [engine],
        "seconds": [seconds],
    }
    lake.write(META_RUNS.qualified, arrays.table(row, META_RUNS.schema))


def _has_run(lake: Lake, run_id: str) -> bool:
    """Whether ``meta.runs`` holds a row of ``run_id``, asked by predicate through delta-rs'
    engine (reading every run id cost a long-lived lake's recovery the whole column: decision
    0020, sixteenth-round addendum)."""
    from retail_lakehouse.pipeline.bronze_manifest import small_query, text_literal

    found = small_query(
        lake,
        META_RUNS.qualified,
        f"SELECT count(*) AS n FROM t WHERE run_id = {text_literal(run_id)}",
    )
    return bool(found and found["n"][0])
