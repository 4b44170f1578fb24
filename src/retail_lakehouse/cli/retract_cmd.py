"""``retail retract``: take one ingested file's lines back out of the lake."""

from __future__ import annotations

from typing import Annotated

import typer

from retail_lakehouse.cli.context import UsageProblem, console, existing_lake


def retract(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(help="The file as ingested (its path or its name)."),
    ] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Batch number instead.")] = None,
) -> None:
    """Remove a file's lines, rejects and manifest row from bronze (a recorded operation).

    The next `retail run` takes its lines out of silver and gold incrementally: dimensions,
    customer history and marts are recomputed for what it touched."""
    from retail_lakehouse.lake.recovery import (
        AlreadyRetracted,
        RecoveryRefused,
        find_batch,
        retract_batch,
    )
    from retail_lakehouse.lake.runs import recorded_run

    if (file is None) == (batch is None):
        raise UsageProblem("name a FILE or give --batch N (one of them)")
    lake = existing_lake(ctx)
    with recorded_run(lake, "retract") as run:
        # asked under the lock, after the recovery of an interrupted command (which may be the
        # very retraction being retried)
        try:
            row = find_batch(lake, file=file, batch=batch)
        except AlreadyRetracted as already:  # a retry, e.g. after an interruption: idempotent
            console.print(str(already))
            return
        except RecoveryRefused as error:
            run.refuse(str(error))
        else:
            done = retract_batch(lake, row, run)
            run.count("bronze.sales_lines", rows_in=done.lines)
            run.changed = True
    if run.refused is not None:
        raise UsageProblem(run.refused)
    console.print(
        f"retracted batch {done.batch_seq} ({done.source_file}): {done.lines:,} line(s) and "
        f"{done.rejects:,} reject(s) removed from bronze; the next `retail run` takes them out "
        "of silver and gold"
    )
