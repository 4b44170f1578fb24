"""``retail run``: move everything pending through every layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retail_lakehouse.cli.context import (
    EngineChoice,
    PipelineFailure,
    UsageProblem,
    console,
    freeze_loaded_objects,
    lake_with_bronze,
    state_from,
)


def run(
    ctx: typer.Context,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild silver and gold from bronze.")
    ] = False,
    rules: Annotated[
        list[Path] | None,
        typer.Option("--rules", help="Extra quality-rule YAML file (repeatable)."),
    ] = None,
    engine: Annotated[
        EngineChoice | None,
        typer.Option(help="duckdb or spark (default: engine in retail.toml, else duckdb)."),
    ] = None,
) -> None:
    """Process new bronze batches into silver and gold (incremental and idempotent)."""
    from retail_lakehouse.pipeline.errors import PipelineError, RulesError
    from retail_lakehouse.pipeline.runner import run_pipeline
    from retail_lakehouse.quality.rules import load_rules

    freeze_loaded_objects()
    state = state_from(ctx)
    lake = lake_with_bronze(ctx)
    for path in rules or []:
        if not path.is_file():
            raise UsageProblem(f"rules file not found: {path}")
    try:  # a bad rules file is a usage error: refuse it before taking the lake's writer lock
        load_rules([*state.settings.rules, *(rules or [])])
    except RulesError as bad:
        raise UsageProblem(str(bad)) from None
    try:
        report = run_pipeline(
            lake,
            state.settings,
            full_refresh=full_refresh,
            extra_rules=list(rules or []),
            engine_name=engine.value if engine else state.settings.engine,
        )
    except PipelineError as failed:  # a gate, a category file, an SCD2 invariant
        raise PipelineFailure(str(failed)) from None
    except RulesError as bad:
        raise UsageProblem(str(bad)) from None
    console.print(report.render())
    if state.settings.publish.after_run:
        from retail_lakehouse.cli.publish_cmd import publish_after_run

        publish_after_run(state)
