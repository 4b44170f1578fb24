"""``retail optimize`` and ``retail vacuum``: compact small files, delete unneeded ones."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import UsageProblem, console, existing_lake


def optimize(
    ctx: typer.Context,
    table: Annotated[
        str | None, typer.Argument(help="One table (layer.table); every table if omitted.")
    ] = None,
) -> None:
    """Compact the small files incremental runs leave (same rows; a new version per table)."""
    from retail_lakehouse.lake.maintenance import optimize as compact
    from retail_lakehouse.lake.maintenance import parquet_files_on_disk
    from retail_lakehouse.lake.runs import recorded_run

    lake = existing_lake(ctx)
    if table is not None:
        try:
            exists = lake.exists(table)
        except ValueError as bad:
            raise UsageProblem(str(bad)) from None
        if not exists:
            raise UsageProblem(f"no table {table} in {lake.root}")
    with recorded_run(lake, "optimize" + (f" {table}" if table else "")) as run:
        done = compact(lake, [table] if table else None)
        run.changed = any(c.version is not None for c in done)
    grid = Table("table", "files before", "files after")
    for c in done:
        if c.files_before != c.files_after:
            grid.add_row(c.table, str(c.files_before), str(c.files_after))
    before = sum(c.files_before for c in done)
    after = sum(c.files_after for c in done)
    if grid.row_count:
        console.print(grid)
    console.print(
        f"live files: {before} -> {after} in {len(done)} table(s); Parquet files on disk: "
        f"{parquet_files_on_disk(lake)} (old versions' files stay until `retail vacuum`)"
    )


def vacuum(
    ctx: typer.Context,
    retain: Annotated[
        str,
        typer.Option(
            "--retain",
            help="Keep what versions of the last N hours (168h) or days (7d) need; at most "
            "876000h.",
        ),
    ] = "168h",
    force: Annotated[
        bool, typer.Option("--force", help="Allow a retention shorter than 168h.")
    ] = False,
) -> None:
    """Delete files no version inside the retention window needs (old versions, strays)."""
    from retail_lakehouse.lake.maintenance import (
        RetentionRefused,
        check_retention,
        parquet_files_on_disk,
    )
    from retail_lakehouse.lake.maintenance import vacuum as run_vacuum
    from retail_lakehouse.lake.runs import recorded_run

    hours = parse_hours(retain)
    try:
        check_retention(hours, force)
    except RetentionRefused as refused:
        raise UsageProblem(str(refused)) from None
    lake = existing_lake(ctx)
    before = parquet_files_on_disk(lake)
    with recorded_run(lake, f"vacuum --retain {hours}h") as run:
        report = run_vacuum(lake, hours, force=force)
        run.changed = report.total > 0
    console.print(
        f"{report.describe()} no version of the last {hours}h needs; Parquet files "
        f"on disk: {before} -> {parquet_files_on_disk(lake)}"
    )
    if report.runs_lost:
        console.print(
            f"time travel lost: the state after {len(report.runs_lost)} run(s) finished before "
            f"{report.cutoff:%Y-%m-%d %H:%M:%S} UTC (oldest {report.runs_lost[0]}) may no "
            "longer be readable with --as-of or rolled back to",
            style="yellow",
        )


def parse_hours(text: str) -> int:
    """``168h``, ``7d`` or a plain number of hours."""
    found = re.fullmatch(r"\s*(\d+)\s*([hd]?)\s*", text.lower())
    if not found:
        raise UsageProblem(f"--retain {text!r}: give hours like 168h (or days like 7d)")
    value = int(found.group(1))
    return value * 24 if found.group(2) == "d" else value
