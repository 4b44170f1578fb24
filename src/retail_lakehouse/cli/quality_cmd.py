"""``retail quality``: how good the data is (``report``), whether it would pass (``check``),
and whether rules files load at all (``rules``: no lake needed).

``report`` and ``check`` only read the lake. ``report`` renders what past runs recorded; ``check``
evaluates the rules on the current silver table right now, without writing anything, so it is
safe to run while a pipeline runs and useful after editing a rules file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from retail_lakehouse.cli.context import (
    EngineChoice,
    PipelineFailure,
    UsageProblem,
    checked_rules,
    console,
    existing_lake,
    state_from,
)

DEFAULT_TABLE = "silver.sales_lines"
"""The scored table (``quality.history.DEFAULT_TABLE``; spelled here so ``--help`` stays light)."""

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
        str | None, typer.Option("--run", help="Run id to report on (default: the latest run).")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML page to this file."),
    ] = None,
    table: Annotated[str, typer.Option("--table", help="Scored table.")] = DEFAULT_TABLE,
    top: Annotated[int, typer.Option("--top", min=1, help="How many failing rules to show.")] = 10,
    examples: Annotated[
        int, typer.Option("--examples", min=0, max=1000, help="Example failing lines per rule.")
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
            existing_lake(ctx),
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
        console.print(f"HTML report written to {written}", markup=False)


@app.command("rules")
def rules_command(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Rules YAML files, applied in order after retail.toml's rules."),
    ] = None,
) -> None:
    """Check rules files without a lake (a rules repository's CI) and list the rules in effect.

    The files are loaded and compiled as ``retail run --rules FILE`` would (the shipped
    defaults, ``retail.toml``'s ``rules``, then FILES): an invalid one exits 2 with the same
    message, naming the file, the rule and the reason. Reads no lake and creates none."""
    from rich.table import Table

    ruleset = checked_rules(state_from(ctx), files or [])
    table = Table(title=f"{len(ruleset)} rules in effect")
    for column in ("rule", "dimension", "action", "threshold", "weight", "from"):
        table.add_column(column)
    for rule in ruleset:
        threshold = "" if rule.threshold is None else f"{rule.threshold:.0%}"
        table.add_row(
            rule.name, rule.dimension, rule.action, threshold, f"{rule.weight:g}", rule.source
        )
    console.print(table)
    tests = len(ruleset.tests)
    console.print(f"{tests} table test{'' if tests == 1 else 's'}; every file loads.")


@app.command("check")
def check(
    ctx: typer.Context,
    rules: Annotated[
        list[Path] | None,
        typer.Option("--rules", help="Extra quality-rule YAML file (repeatable)."),
    ] = None,
    engine: Annotated[
        EngineChoice | None,
        typer.Option(help="duckdb or spark (default: engine in retail.toml, else duckdb)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Evaluate the rules on the current silver lines without writing; exit 1 if a gate fails.

    The lines are re-derived from the bronze batches silver has processed, so the answer is
    what ``retail run --full-refresh`` with these rules would decide. Exits 2 when silver has
    no lines yet or a rules file is invalid."""
    from retail_lakehouse.engines import open_engine
    from retail_lakehouse.quality.check_view import check_as_dict, render_check
    from retail_lakehouse.quality.evaluate import check_current

    state = state_from(ctx)
    ruleset = checked_rules(state, rules or [])
    try:
        lake = existing_lake(ctx)
        with open_engine(lake, engine.value if engine else state.settings.engine) as opened:
            outcome = check_current(lake, opened, ruleset, time_zone=state.settings.time_zone)
    except ValueError as bad:  # an unknown engine name, or RulesError raised while compiling
        raise UsageProblem(str(bad)) from None
    if not outcome.lines_checked:
        raise UsageProblem(
            "nothing to check: silver has no lines yet (run `retail ingest FILES` then "
            "`retail run`)"
        )
    if as_json:
        sys.stdout.write(json.dumps(check_as_dict(outcome), default=str, indent=2) + "\n")
    else:
        render_check(outcome, console)
    if not outcome.passed:
        names = ", ".join(repr(g.rule.name) for g in outcome.gate_failures)
        raise PipelineFailure(f"quality gate would fail: {names}")
