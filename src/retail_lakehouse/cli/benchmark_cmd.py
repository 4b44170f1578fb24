"""``retail benchmark``: measured speed and memory of every layer on generated data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import EngineChoice, console, writable_file


def benchmark(
    rows: Annotated[
        list[int] | None, typer.Option("--rows", "-n", help="Lines per run (repeatable).")
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            min=1,
            help="Runs per size; prints the median of each figure and its range.",
        ),
    ] = 1,
    engine: Annotated[EngineChoice, typer.Option(help="duckdb or spark.")] = EngineChoice.duckdb,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON.")] = False,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON to this file.")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the generated files and lakes.")
    ] = None,
) -> None:
    """Generate data, run ingest -> silver -> gold on a fresh lake, print time and memory."""
    from retail_lakehouse.benchmark import run_repeated

    if output is not None:  # refused now, not after the whole benchmark has run
        writable_file(output, "--output")
    results = []
    for size in rows or [541_909]:
        if not as_json:
            runs = f", {repeat} runs" if repeat > 1 else ""
            console.print(f"benchmarking {size:,} lines on {engine.value}{runs} ...", style="dim")
        measured = run_repeated(size, repeat, seed=seed, engine=engine.value, workdir=workdir)
        results.append(measured.as_dict())
    document = json.dumps({"results": results}, indent=2)
    if output:
        output.write_text(document + "\n", encoding="utf-8")
    if as_json:
        sys.stdout.write(document + "\n")
        return
    seconds = "seconds (median, range)" if repeat > 1 else "seconds"
    table = Table("lines", "stage", seconds, "rows/s", "peak RSS MB", title="retail benchmark")
    for result in results:
        spread = result.get("range", {})
        whole = result["file_to_gold_seconds"]
        for stage in result["stages"]:
            table.add_row(
                f"{result['rows']:,}",
                stage["stage"],
                _seconds(stage["seconds"], spread.get(stage["stage"])),
                f"{stage['rows_per_second']:,}",
                f"{stage['peak_rss_mb']:,.0f}",
            )
        table.add_row(
            f"{result['rows']:,}",
            "[bold]file -> gold[/]",
            f"[bold]{_seconds(whole, spread.get('file_to_gold_seconds'))}[/]",
            f"{round(result['rows'] / max(whole, 1e-9)):,}",
            f"[bold]{result['peak_rss_mb']:,.0f}[/] (process)",
        )
    console.print(table)
    sys.stdout.write(document + "\n")


def _seconds(value: float, spread: list[float] | None) -> str:
    return f"{value:.2f} ({spread[0]:.2f}-{spread[1]:.2f})" if spread else f"{value:.2f}"
