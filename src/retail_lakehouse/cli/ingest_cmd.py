"""``retail ingest``: files or folders into bronze, one atomic commit per file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import (
    UsageProblem,
    console,
    freeze_loaded_objects,
    lake_from,
    state_from,
)
from retail_lakehouse.cli.progress import progress_bar


def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders (csv, tsv, xlsx/xls, json, ndjson, parquet)."),
    ],
) -> None:
    """Append source files to bronze.sales_lines; files already ingested are skipped.

    Each file is read in a separate reader process under the [limits] of retail.toml; a file
    that is refused (past a limit, unreadable, or crashing its reader) is listed with the
    reason, the others are ingested, and the command exits 2."""
    from retail_lakehouse.lake.runs import recorded_run
    from retail_lakehouse.pipeline.bronze import FileRefused, discover, ingest_files

    freeze_loaded_objects()
    lake = lake_from(ctx)
    limits = state_from(ctx).settings.limits.reader_limits()
    try:
        files = discover(paths)
    except FileRefused as refused:
        raise UsageProblem(str(refused)) from None
    if not files:
        raise UsageProblem("no ingestible files found (csv, tsv, xlsx, xls, json, ndjson, parquet)")
    summary = Table("file", "status", "lines", "rejected", "note")
    refusals: list[str] = []
    with recorded_run(lake, "ingest") as run, progress_bar("ingesting", total=len(files)) as done:
        reports = ingest_files(lake, files, run, limits=limits, progress=done)
    for report in reports:
        if report.refused is not None:
            refusals.append(str(report.refused))
            summary.add_row(str(report.path), "[red]refused[/]", "", "", report.note)
        else:
            summary.add_row(
                str(report.path),
                report.status,
                f"{report.rows_ingested:,}",
                f"{report.rows_rejected:,}",
                report.note,
            )
    console.print(summary)
    if refusals:
        raise UsageProblem(
            f"{len(refusals)} of {len(files)} file(s) refused:\n  " + "\n  ".join(refusals)
        )
