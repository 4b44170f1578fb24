"""Formats whose cells are already separated: Excel workbooks (every sheet) and Parquet.

Values are turned into strings as a person would read them in the source (Excel datetimes as
``YYYY-MM-DD HH:MM:SS``), so bronze stays a faithful, all-text copy of what arrived.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from retail_lakehouse.sources.aliases import map_header
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.records import OpenedSource, SourceChunk, SourceLayout

PARQUET_BATCH_ROWS = 500_000


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text; datetimes without sub-second noise."""
    return frame.select(
        [
            pl.col(name).dt.strftime("%Y-%m-%d %H:%M:%S").alias(name)
            if dtype in (pl.Datetime, pl.Date) or isinstance(dtype, pl.Datetime)
            else pl.col(name).cast(pl.String)
            for name, dtype in frame.schema.items()
        ]
    )


def _mapped(path: Path, header: list[str]) -> list[str]:
    mapping, missing = map_header([str(h) for h in header])
    if missing:
        raise FileRefused(
            path, f"missing required column(s) {', '.join(missing)} (header: {', '.join(header)})"
        )
    return [mapping[i] for i in range(len(header))]


def open_excel(path: Path) -> OpenedSource:
    """Every sheet of an .xlsx/.xls workbook; a sheet's row 1 is its header."""
    try:
        # infer_schema_length=0 reads every cell as text: with type inference a column of invoice
        # numbers turns "C536379" into NULL because most of its cells are numbers.
        sheets: dict[str, pl.DataFrame] = pl.read_excel(
            path, sheet_id=0, engine="calamine", infer_schema_length=0
        )
    except Exception as error:  # calamine raises several types for corrupt workbooks
        raise FileRefused(path, f"not a readable Excel workbook ({error})") from None
    sheets = {name: frame for name, frame in sheets.items() if frame.width > 0}
    if not sheets:
        raise FileRefused(path, "the workbook has no sheet with a header row")
    names_by_sheet = {name: _mapped(path, frame.columns) for name, frame in sheets.items()}
    all_names = list(dict.fromkeys(n for names in names_by_sheet.values() for n in names))
    layout = SourceLayout(
        format=path.suffix.lower().lstrip("."),
        columns=all_names,
        extra_columns=[n for n in all_names if n.startswith("x_")],
        source_header=list(next(iter(sheets.values())).columns),
    )

    def chunks() -> Iterator[SourceChunk]:
        for sheet, frame in sheets.items():
            text = _as_text(frame)
            text.columns = names_by_sheet[sheet]
            rows = text.with_row_index("_row_number", offset=2).with_columns(
                pl.col("_row_number").cast(pl.Int64)
            )
            yield SourceChunk(rows=rows, part=sheet)

    return OpenedSource(layout, chunks())


def open_parquet(path: Path) -> OpenedSource:
    """A Parquet file, streamed in row batches; ``_row_number`` is the 1-based row index."""
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise FileRefused(path, f"not a readable Parquet file ({error})") from None
    header = list(parquet.schema_arrow.names)
    names = _mapped(path, header)
    layout = SourceLayout(
        format="parquet",
        columns=names,
        extra_columns=[n for n in names if n.startswith("x_")],
        source_header=header,
    )

    def chunks() -> Iterator[SourceChunk]:
        offset = 1
        batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS)
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as error:  # a corrupt page past the footer
                raise FileRefused(
                    path, f"unreadable Parquet data from row {offset} on ({error})"
                ) from None
            if batch is None:
                return
            frame = pl.from_arrow(pa.Table.from_batches([batch]))
            assert isinstance(frame, pl.DataFrame)
            text = _as_text(frame)
            text.columns = names
            yield SourceChunk(
                rows=text.with_row_index("_row_number", offset=offset).with_columns(
                    pl.col("_row_number").cast(pl.Int64)
                )
            )
            offset += batch.num_rows

    return OpenedSource(layout, chunks())
