"""``retail history``: the versions of one table, or of the whole lake by run."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from retail_lakehouse.cli.context import UsageProblem, console, existing_lake


def history(
    ctx: typer.Context,
    table: Annotated[
        str | None, typer.Argument(help="A table (layer.table); the whole lake by run if omitted.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the Delta versions of a table, or every run with what it changed."""
    from retail_lakehouse.lake.history import runs_summary, table_history

    lake = existing_lake(ctx)  # a mistyped --lake is refused, not shown as no history
    if table is not None:
        try:
            exists = lake.exists(table)
        except ValueError as bad:
            raise UsageProblem(str(bad)) from None
        if not exists:
            raise UsageProblem(f"no table {table} in {lake.root} (see `retail status`)")
        commits = [c.as_dict() for c in table_history(lake, table)]
        if as_json:
            sys.stdout.write(json.dumps(commits) + "\n")
            return
        grid = Table(
            "version", "time", "run", "command", "operation", "rows +/-", "files +/-", "bytes +"
        )
        for c in commits:
            grid.add_row(
                str(c["version"]),
                c["time"][:19],
                c["run_id"] or "",
                c["command"] or "",
                c["operation"],
                f"+{_n(c['rows_added'])} / -{_n(c['rows_removed'])}",
                f"+{c['files_added']} / -{c['files_removed']}",
                f"{c['bytes_added']:,}",
            )
        console.print(grid)
        return
    summary = runs_summary(lake)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    grid = Table(
        "run", "command", "status", "finished", "tables", "rows +/-", "files +/-", "bytes +"
    )
    for run in summary:
        grid.add_row(
            run["run_id"],
            run["command"],
            run["status"],
            (run["finished_at"] or "")[:19],
            str(len(run["tables"])),
            f"+{_n(run['rows_added'])} / -{_n(run['rows_removed'])}",
            f"+{run['files_added']} / -{run['files_removed']}",
            f"{run['bytes_added']:,}",
        )
    console.print(grid)
    console.print(
        "`retail history TABLE` lists one table's versions; "
        "`retail sql --as-of RUN` reads the lake as it was after a run.",
        style="dim",
    )


def _n(value: Any) -> str:
    return "?" if value is None else f"{value:,}"
