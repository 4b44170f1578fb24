"""``retail quality``: how good the data is (``report``) and whether it would pass (``check``).

Both commands only read the lake. ``report`` renders what past runs recorded; ``check``
evaluates the rules on the current silver table right now, without writing anything, so it is
safe to run while a pipeline runs and useful after editing a rules file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retail_lakehouse.cli.context import UsageProblem, console, state_from
from retail_lakehouse.quality.history import DEFAULT_TABLE

app = typer.Typer(
    help="Data quality: reports over the recorded history and on-demand rule checks.",
    no_args_is_help=True,
)


def _checked_table(table: str) -> str:
    layer, _, name = table.partition(".")
    if layer not in {"bronze", "silver", "gold"} or not name.replace("_", "").isalnum():
        raise UsageProblem(f"not a lake table name: {table!r} (expected layer.table)")
    return table


@app.command("report")
def report(
    ctx: typer.Context,
    run: Annotated[
        str | None, typer.Option("--run", help="Run id to report on [default: the latest].")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML page to this file."),
    ] = None,
    table: Annotated[str, typer.Option("--table", help="Scored table.")] = DEFAULT_TABLE,
    top: Annotated[int, typer.Option("--top", min=1, help="How many failing rules to show.")] = 10,
    examples: Annotated[
        int, typer.Option("--examples", min=0, help="Example failing lines per rule.")
    ] = 3,
) -> None:
    """Scores, worst rules with failing lines, quarantine reasons and history of one run.

    Exits 2 when no run has scored the table yet (or the run id is unknown); no HTML file is
    written in that case."""
    from retail_lakehouse.quality.report import (
        NoQualityHistory,
        UnknownRun,
        build_report,
        describe_rules,
        write_html,
    )
    from retail_lakehouse.quality.report_terminal import render_terminal

    state = state_from(ctx)
    try:
        built = build_report(
            state.lake,
            run_id=run,
            table=_checked_table(table),
            top=top,
            examples=examples,
            rule_info=describe_rules(state.settings.rules),
        )
    except (NoQualityHistory, UnknownRun) as missing:
        raise UsageProblem(str(missing)) from None
    render_terminal(built, console)
    if html is not None:
        written = write_html(built, html)
        console.print(f"HTML report written to [bold]{written}[/]")


@app.command("check")
def check(
    ctx: typer.Context,
    rules: Annotated[
        list[Path] | None,
        typer.Option("--rules", help="Extra quality-rule YAML file (repeatable)."),
    ] = None,
) -> None:
    """Evaluate the rules on the current silver table without writing; exit 1 if a gate fails."""
    for path in rules or []:
        if not path.is_file():
            raise UsageProblem(f"rules file not found: {path}")
    raise UsageProblem("retail quality check is not available yet")
