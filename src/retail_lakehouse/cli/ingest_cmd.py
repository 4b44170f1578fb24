"""``retail ingest``: files or folders into bronze, one atomic commit per file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import UsageProblem, console, freeze_loaded_objects, lake_from
from retail_lakehouse.cli.progress import progress_bar


def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders (csv, tsv, xlsx/xls, json, ndjson, parquet)."),
    ],
) -> None:
    """Append source files to bronze.sales_lines; files already ingested are skipped."""
    from retail_lakehouse.lake.runs import recorded_run
    from retail_lakehouse.pipeline.bronze import FileRefused, discover, ingest_file

    freeze_loaded_objects()
    lake = lake_from(ctx)
    try:
        files = discover(paths)
    except FileRefused as refused:
        raise UsageProblem(str(refused)) from None
    if not files:
        raise UsageProblem("no ingestible files found (csv, tsv, xlsx, xls, json, ndjson, parquet)")
    summary = Table("file", "status", "lines", "rejected", "note")
    refusals: list[str] = []
    with recorded_run(lake, "ingest") as run, progress_bar("ingesting", total=len(files)) as done:
        for line in run.recovered:  # what an interrupted command had left, completed or undone
            console.print(f"[yellow]{line}[/]")
        for index, file in enumerate(files, start=1):
            try:
                report = ingest_file(lake, file, run)
            except FileRefused as refused:
                refusals.append(str(refused))
                summary.add_row(str(file), "[red]refused[/]", "", "", str(refused.reason))
            else:
                summary.add_row(
                    str(file),
                    report.status,
                    f"{report.rows_ingested:,}",
                    f"{report.rows_rejected:,}",
                    report.note,
                )
            done(index)
    console.print(summary)
    if refusals:
        raise UsageProblem(
            f"{len(refusals)} of {len(files)} file(s) refused:\n  " + "\n  ".join(refusals)
        )
