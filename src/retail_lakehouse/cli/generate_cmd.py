"""``retail generate``: realistic sample data, deterministic by seed."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from retail_lakehouse.cli.context import UsageProblem, console
from retail_lakehouse.cli.progress import progress_bar


class Layout(str, Enum):
    uci = "uci"
    uci2 = "uci2"


class FileFormat(str, Enum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"
    parquet = "parquet"


def generate(
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="Data lines to write.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same file.")] = 42,
    layout: Annotated[
        Layout, typer.Option(help="uci (Online Retail) or uci2 (Online Retail II) headers.")
    ] = Layout.uci,
    file_format: Annotated[FileFormat, typer.Option("--format", help="Output format.")] = (
        FileFormat.csv
    ),
) -> None:
    """Write a sample data set following the published profile of the UCI Online Retail data."""
    from retail_lakehouse.generate import generate as generate_file

    if out.exists() and out.is_dir():
        raise UsageProblem(f"{out} is a folder; give a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    with progress_bar("generating", total=rows) as advance:
        result = generate_file(
            rows, out, seed=seed, layout=layout.value, fmt=file_format.value, progress=advance
        )
    console.print(f"wrote {result.rows:,} lines to {result.path} in {result.seconds:.1f}s")
