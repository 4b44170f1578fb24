"""``meta.runs``: one row per command that changed the lake, written when the command ends.

Every writing command runs inside :func:`recorded_run`, which also takes the lake's writer lock,
so "what ran, when, with what result" is answered by the lake itself, never by a log file.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from retail_lakehouse.lake.commit_info import run_scope
from retail_lakehouse.lake.contracts.meta import META_RUNS
from retail_lakehouse.lake.store import Lake

if TYPE_CHECKING:
    from retail_lakehouse.observe.command import CommandObserver


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

    def count(self, table: str, *, rows_in: int | None = None, rows_out: int | None = None) -> None:
        """Add to the rows read from / written to ``table`` by this run."""
        entry = self.rows.setdefault(table, {"in": 0, "out": 0})
        entry["in"] += rows_in or 0
        entry["out"] += rows_out or 0
        if rows_out:
            self.changed = True


@contextlib.contextmanager
def recorded_run(
    lake: Lake, command: str, *, engine: str | None = None, lock: bool = True
) -> Iterator[RunContext]:
    """Run a writing command under the writer lock and record it in ``meta.runs``.

    A successful command is recorded when it changed something; a failed one always is, with
    its error, so a failing gate leaves a trace even though it committed nothing else."""
    guard = lake.writer_lock() if lock else contextlib.nullcontext()
    with guard:
        started = datetime.now(UTC)
        clock = time.perf_counter()
        ctx = RunContext(new_run_id(started), command, started, engine)
        from retail_lakehouse.observe.command import CommandObserver

        observer = ctx.observer = CommandObserver(lake, ctx)
        observer.started()
        try:
            with run_scope(ctx.run_id, command), _recording(lake, ctx, clock):
                yield ctx
        except BaseException as error:
            observer.finished("failed", f"{type(error).__name__}: {error}")
            raise
        observer.finished("succeeded" if ctx.changed else "idle")


@contextlib.contextmanager
def _recording(lake: Lake, ctx: RunContext, clock: float) -> Iterator[None]:
    """Write the ``meta.runs`` row of the block's outcome (inside the run's commit scope)."""
    try:
        yield
    except BaseException as error:
        _record(lake, ctx, "failed", f"{type(error).__name__}: {error}", clock)
        raise
    if ctx.changed:
        _record(lake, ctx, "succeeded", None, clock)


def _record(lake: Lake, ctx: RunContext, status: str, error: str | None, clock: float) -> None:
    row = {
        "run_id": [ctx.run_id],
        "command": [ctx.command],
        "started_at": [ctx.started_at],
        "finished_at": [datetime.now(UTC)],
        "status": [status],
        "rows": [json.dumps(ctx.rows, sort_keys=True)],
        "error": [error],
        "engine": [ctx.engine],
        "seconds": [round(time.perf_counter() - clock, 3)],
    }
    lake.write(META_RUNS.qualified, pa.table(row))
