"""``retail run``: move everything pending through every layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retail_lakehouse.cli.context import (
    AppState,
    EngineChoice,
    PipelineFailure,
    UsageProblem,
    checked_rules,
    console,
    freeze_loaded_objects,
    lake_with_bronze,
    pyarrow_without_numpy,
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
    from retail_lakehouse.pipeline.errors import RulesError

    state = state_from(ctx)
    if state.settings.rules or rules:  # refused before the writer lock (the defaults are fine)
        checked_rules(state, rules or [])
    if not full_refresh and _settled(state.lake_root):
        _publish_after_run(state)
        return
    engine_name = engine.value if engine else state.settings.engine
    if engine_name == "duckdb" and not state.settings.publish.after_run:
        pyarrow_without_numpy()  # Spark takes pandas frames; publishing is left as it was
    lake = lake_with_bronze(ctx)
    from retail_lakehouse.pipeline.errors import PipelineError
    from retail_lakehouse.pipeline.runner import run_pipeline

    freeze_loaded_objects()
    try:
        report = run_pipeline(
            lake,
            state.settings,
            full_refresh=full_refresh,
            extra_rules=list(rules or []),
            engine_name=engine_name,
        )
    except PipelineError as failed:  # a gate, a category file, an SCD2 invariant
        raise PipelineFailure(str(failed)) from None
    except RulesError as bad:
        raise UsageProblem(str(bad)) from None
    console.print(report.render())
    _publish_after_run(state)


def _publish_after_run(state: AppState) -> None:
    """``[publish] after_run``: publish after every run, an idle one included (it retries a
    publish that failed after the last run; publishing nothing new costs one query)."""
    if state.settings.publish.after_run:
        from retail_lakehouse.cli.publish_cmd import publish_after_run

        publish_after_run(state)


def _settled(root: Path) -> bool:
    """Nothing committed since a run that processed everything: say so without opening an
    engine or a table (see ``lake.fingerprint``); anything else takes the full path."""
    from retail_lakehouse.lake.fingerprint import settled_run

    run_id = settled_run(root)
    if run_id is None:
        return False
    console.print("silver: nothing new in bronze", style="dim")
    console.print("gold: nothing to do (no new silver batches)")
    since = f"run {run_id}" if run_id else "the last run"
    console.print(f"lake unchanged since {since}: nothing to run", style="dim")
    return True
