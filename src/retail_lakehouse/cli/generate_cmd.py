"""``retail generate``: realistic sample data, deterministic by seed."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from retail_lakehouse.cli.context import UsageProblem, console, writable_file
from retail_lakehouse.cli.progress import progress_bar


class Layout(str, Enum):
    uci = "uci"
    uci2 = "uci2"


class DateOrder(str, Enum):
    mdy = "mdy"
    dmy = "dmy"
    ymd = "ymd"


class Decimal(str, Enum):
    point = "."
    comma = ","


class Delimiter(str, Enum):
    comma = ","
    semicolon = ";"
    pipe = "|"
    tab = "tab"


class FileFormat(str, Enum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"
    parquet = "parquet"


_BY_SUFFIX = {
    ".csv": FileFormat.csv,
    ".xlsx": FileFormat.xlsx,
    ".json": FileFormat.json,
    ".ndjson": FileFormat.json,
    ".parquet": FileFormat.parquet,
}


def output_format(out: Path, given: FileFormat | None) -> FileFormat:
    """The format the file name says, or ``--format`` when it agrees: a Parquet file named
    ``.csv`` would be refused by ``retail ingest`` later, so the mismatch is refused now."""
    implied = _BY_SUFFIX.get(out.suffix.lower())
    if given is not None and implied is not None and given is not implied:
        raise UsageProblem(
            f"--format {given.value} does not match the file name {out.name} "
            f"({out.suffix} is {implied.value}); change one of them"
        )
    if given is None and implied is None:
        raise UsageProblem(
            f"cannot tell the format from {out.name}: name the file .csv, .xlsx, .json or "
            ".parquet, or pass --format"
        )
    chosen = given or implied
    assert chosen is not None
    return chosen


def generate(
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="Data lines to write.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same file.")] = 42,
    layout: Annotated[
        Layout, typer.Option(help="uci (Online Retail) or uci2 (Online Retail II) headers.")
    ] = Layout.uci,
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="Output format (default: from the file name's extension)."),
    ] = None,
    date_order: Annotated[
        DateOrder | None,
        typer.Option(
            "--date-order",
            help="Write dates month first (12/1/2010), day first (1/12/2010; dotted "
            "01.12.2010 with --decimal ,) or year first (default: the layout's own).",
        ),
    ] = None,
    decimal: Annotated[
        Decimal,
        typer.Option(
            "--decimal", help="Decimal separator; ',' also writes thousands dots (1.234,5)."
        ),
    ] = Decimal.point,
    delimiter: Annotated[
        Delimiter,
        typer.Option("--delimiter", help="Field delimiter of a csv file: , ; | or tab."),
    ] = Delimiter.comma,
) -> None:
    """Write a sample data set following the published profile of the UCI Online Retail data.

    The same seed gives the same data whatever the spelling: `--date-order dmy --decimal ,
    --delimiter ';'` writes what a European shop's export of it would look like."""
    from retail_lakehouse.generate import Spelling
    from retail_lakehouse.generate import generate as generate_file

    fmt = output_format(out, file_format)
    spelling = Spelling(
        date_order=date_order.value if date_order else None,
        decimal=decimal.value,
        delimiter="\t" if delimiter is Delimiter.tab else delimiter.value,
    )
    if fmt is FileFormat.xlsx and not spelling.default:
        raise UsageProblem(
            "--date-order, --decimal and --delimiter are for text files: an Excel workbook "
            "has typed dates and numbers"
        )
    if fmt is not FileFormat.csv and spelling.delimiter != ",":
        raise UsageProblem(f"--delimiter is for csv files, not {fmt.value}")
    if out.exists() and out.is_dir():
        raise UsageProblem(f"{out} is a folder; give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageProblem(f"--out {out}: cannot create {out.parent}: {error.strerror}") from None
    writable_file(out, "--out")
    with progress_bar("generating", total=rows) as advance:
        result = generate_file(
            rows,
            out,
            seed=seed,
            layout=layout.value,
            fmt=fmt.value,
            progress=advance,
            spelling=spelling,
        )
    console.print(
        f"wrote {result.rows:,} lines to {result.path} in {result.seconds:.1f}s", markup=False
    )
