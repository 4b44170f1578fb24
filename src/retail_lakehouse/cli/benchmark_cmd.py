"""``retail benchmark``: measured speed and memory of every layer on generated data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import console


def benchmark(
    rows: Annotated[
        list[int] | None, typer.Option("--rows", "-n", help="Lines per run (repeatable).")
    ] = None,
    engine: Annotated[str, typer.Option(help="duckdb or spark.")] = "duckdb",
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON.")] = False,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON to this file.")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the generated files and lakes.")
    ] = None,
) -> None:
    """Generate data, run ingest -> silver -> gold on a fresh lake, print time and memory."""
    from retail_lakehouse.benchmark import run_size

    results = []
    for size in rows or [541_909]:
        if not as_json:
            console.print(f"benchmarking {size:,} lines on {engine} ...", style="dim")
        results.append(run_size(size, seed=seed, engine=engine, workdir=workdir).as_dict())
    document = json.dumps({"results": results}, indent=2)
    if output:
        output.write_text(document + "\n", encoding="utf-8")
    if as_json:
        sys.stdout.write(document + "\n")
        return
    table = Table("lines", "stage", "seconds", "rows/s", "peak RSS MB", title="retail benchmark")
    for result in results:
        for stage in result["stages"]:
            table.add_row(
                f"{result['rows']:,}",
                stage["stage"],
                f"{stage['seconds']:.2f}",
                f"{stage['rows_per_second']:,}",
                f"{stage['peak_rss_mb']:,.0f}",
            )
        table.add_row(
            f"{result['rows']:,}",
            "[bold]file -> gold[/]",
            f"[bold]{result['file_to_gold_seconds']:.2f}[/]",
            f"{round(result['rows'] / max(result['file_to_gold_seconds'], 1e-9)):,}",
            f"[bold]{result['peak_rss_mb']:,.0f}[/] (process)",
        )
    console.print(table)
    sys.stdout.write(document + "\n")
