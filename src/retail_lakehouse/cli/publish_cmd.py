"""``retail publish``: copy gold into PostgreSQL for BI tools (incremental, one transaction)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from retail_lakehouse.cli.context import (
    AppState,
    PipelineFailure,
    UsageProblem,
    console,
    state_from,
)

if TYPE_CHECKING:
    from retail_lakehouse.publish.report import PublishReport


def publish(
    ctx: typer.Context,
    dsn: Annotated[
        str | None,
        typer.Option(
            "--dsn",
            help="PostgreSQL URL or libpq string (default: RETAIL_PUBLISH_DSN, then \\[publish] "
            "dsn in retail.toml). Prefer ~/.pgpass or PGPASSWORD for the password.",
            show_default=False,
        ),
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option("--schema", help="Target schema (default: retail, or \\[publish] schema)."),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild every table instead of only what changed.")
    ] = False,
    take_over: Annotated[
        bool,
        typer.Option(
            "--take-over",
            help="Replace a schema that holds another lake's publish (refused otherwise).",
        ),
    ] = False,
) -> None:
    """Publish gold (dimensions, fact, marts, views) to PostgreSQL, in one transaction.

    Only tables and fact batches changed since the last publish are written; nothing new: no write.
    """
    state = state_from(ctx)
    report = run_publish(state, dsn=dsn, schema=schema, full=full, take_over=take_over)
    console.print(report.render(), highlight=False)


def run_publish(
    state: AppState,
    *,
    dsn: str | None = None,
    schema: str | None = None,
    full: bool = False,
    take_over: bool = False,
) -> PublishReport:
    """Resolve the target and publish; refusals are usage problems (exit 2), failures exit 1."""
    from retail_lakehouse.publish.postgres import publish as publish_gold
    from retail_lakehouse.publish.target import PublishFailed, PublishRefused, resolve_target

    try:
        target = resolve_target(state.settings, dsn, schema)
        return publish_gold(state.lake, target, full=full, take_over=take_over)
    except PublishRefused as refused:
        raise UsageProblem(str(refused)) from None
    except PublishFailed as failed:
        raise PipelineFailure(str(failed)) from None


def publish_after_run(state: AppState) -> None:
    """``[publish] after_run``: publish after a successful ``retail run``. The run's commits
    stay whatever happens here; a publish that fails is reported and the command exits 1."""
    try:
        report = run_publish(state)
    except (UsageProblem, PipelineFailure) as problem:
        raise PipelineFailure(f"the run succeeded, but publishing failed: {problem}") from None
    console.print(report.render(), highlight=False)
