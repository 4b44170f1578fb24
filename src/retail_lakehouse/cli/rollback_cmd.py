"""``retail rollback``: the whole lake back to its state right after a run."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import UsageProblem, console, existing_lake


def rollback(
    ctx: typer.Context,
    to_run: Annotated[
        str, typer.Option("--to-run", help="Run id (see `retail history`) to return to.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Return every table to its state right after a run, as new Delta commits.

    History is kept: the rollback is itself a run (in `retail history`) and can be rolled back.
    Files ingested after that run leave the manifest, so they can be ingested again; stream
    positions go back too, so the next `retail stream` reads the undone events again."""
    from retail_lakehouse.lake.recovery import RecoveryRefused, apply_rollback, plan_rollback
    from retail_lakehouse.lake.runs import recorded_run

    lake = existing_lake(ctx)
    try:
        plan = plan_rollback(lake, to_run)
    except RecoveryRefused as refused:
        raise UsageProblem(str(refused)) from None
    if plan.nothing_to_do:
        with recorded_run(lake, f"rollback --to-run {to_run}"):
            pass  # records nothing, but first completes an interrupted command (the rollback)
        console.print(f"the lake is already in its state after run {to_run}: nothing to undo")
        return
    _show(plan)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageProblem("rollback needs confirmation: run it again with --yes")
        typer.confirm("Roll the lake back?", abort=True)
    with recorded_run(lake, f"rollback --to-run {to_run}") as run:
        plan = plan_rollback(lake, to_run)  # again under the lock: exactly what is committed
        restored = apply_rollback(lake, plan, run)
        for change in plan.changes:
            run.count(change.table, rows_out=change.rows_then, rows_in=change.rows_now)
        run.changed = True
    console.print(
        f"rolled back to run {to_run}: {len(restored)} table(s) restored as new versions "
        f"(this rollback is run {run.run_id}; `retail rollback --to-run` an earlier run id "
        "undoes it)"
    )


def _show(plan: object) -> None:
    from retail_lakehouse.lake.recovery import RollbackPlan

    assert isinstance(plan, RollbackPlan)
    console.print(
        f"rolling back to {plan.target.label} (finished {plan.target.cutoff:%Y-%m-%d %H:%M:%S} UTC)"
    )
    if plan.runs_undone:
        runs = Table("run undone", "command", "finished")
        for run in plan.runs_undone:
            runs.add_row(run.run_id, run.command, f"{run.finished_at:%Y-%m-%d %H:%M:%S}")
        console.print(runs)
    if plan.files_undone:
        files = Table("file leaving bronze", "batch", "lines")
        for row in plan.files_undone:
            files.add_row(row["_source_file"], str(row["_batch_seq"]), f"{row['rows_ingested']:,}")
        console.print(files)
    tables = Table("table", "rows now", "rows after rollback")
    for change in plan.changes:
        tables.add_row(change.table, f"{change.rows_now:,}", f"{change.rows_then:,}")
    console.print(tables)
