"""``retail watch``: ingest files dropped in landing/ and run the pipeline, unattended."""

from __future__ import annotations

from typing import Annotated

import typer

from retail_lakehouse.cli.context import (
    PipelineFailure,
    UsageProblem,
    checked_rules,
    freeze_loaded_objects,
    state_from,
)


def watch(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Process what is in landing/ now, run once, exit.")
    ] = False,
    schedule: Annotated[
        str | None,
        typer.Option(help="Also run on this cron schedule (local time), e.g. '0 2 * * *'."),
    ] = None,
    settle: Annotated[
        float | None,
        typer.Option(help="Seconds a file's size must stay the same before it is taken."),
    ] = None,
    quiet: Annotated[
        float | None, typer.Option(help="Run the pipeline after this many seconds without files.")
    ] = None,
    retries: Annotated[
        int | None, typer.Option(help="Attempts per failed run (backoff doubles).")
    ] = None,
    backoff: Annotated[
        float | None, typer.Option(help="Seconds before the second attempt of a failed run.")
    ] = None,
    archive: Annotated[
        bool | None,
        typer.Option(
            "--archive/--no-archive", help="Move processed files to landing/_archive/DATE/."
        ),
    ] = None,
) -> None:
    """Watch landing/: ingest complete files, run the pipeline after a quiet period or on a
    schedule, retry failed runs, alert. Stops cleanly on SIGTERM/SIGINT.

    Exit codes: 0 stopped (with --once: done); 1 the last run (or, with [publish]
    after_run, its publish) failed, or another watcher holds the lake; 2 a refusal that
    repeats until a person acts (a lake in a newer format, a bad option, rules file or
    landing/ folder; with --once also a refused file): a service manager should not restart
    on it (systemd: RestartPreventExitStatus=2)."""
    from retail_lakehouse.orchestrate.watch import (
        EXIT_REFUSED,
        EXIT_RUN_FAILED,
        Watcher,
        WatcherRunning,
        WatchOptions,
        validate_schedule,
    )

    freeze_loaded_objects()
    state = state_from(ctx)
    options = WatchOptions.from_settings(
        state.settings,
        once=once,
        schedule=schedule,
        settle_seconds=settle,
        quiet_seconds=quiet,
        retry_attempts=retries,
        retry_backoff_seconds=backoff,
        archive=archive,
    )
    if options.schedule:
        try:
            validate_schedule(options.schedule)
        except ValueError as bad:
            raise UsageProblem(str(bad)) from None
    if options.retry_attempts < 1:
        raise UsageProblem("--retries must be at least 1")
    from retail_lakehouse.orchestrate.landing import landing_problem

    problem = landing_problem(state.settings.landing, state.lake_root)
    if problem is not None:
        raise UsageProblem(problem)
    if state.settings.rules:  # a broken file would fail every run until a person fixes it
        checked_rules(state)
    watcher = Watcher(state.lake, state.settings, options)
    try:
        code = watcher.run()
    except WatcherRunning as running:
        raise PipelineFailure(str(running)) from None
    if code == EXIT_RUN_FAILED:
        raise PipelineFailure("the pipeline run failed (see above); it was alerted")
    if code == EXIT_REFUSED:
        raise UsageProblem(f"{watcher.refused} file(s) refused: see landing/_refused/")
