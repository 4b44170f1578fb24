"""Formats whose cells are already separated: Excel workbooks (every sheet) and Parquet.

Values are turned into strings as a person would read them in the source (Excel datetimes as
the workbook reader writes them, ``YYYY-MM-DD HH:MM:SS``; Parquet dates and timestamps as
:func:`temporal_text` writes them), so bronze stays a faithful, all-text copy of what arrived.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from retail_lakehouse.sources.aliases import checked_header
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import MIB, ReaderLimits
from retail_lakehouse.sources.records import OpenedSource, SourceChunk, SourceLayout

PARQUET_BATCH_ROWS = 500_000


def temporal_text(column: str, dtype: pl.DataType) -> pl.Expr | None:
    """The bronze text of a typed date or timestamp column, or None for other types.

    A date is ``YYYY-MM-DD``. A timestamp without a zone (a wall clock) is
    ``YYYY-MM-DD HH:MM:SS`` followed by its fraction when it has one (``.500``, ``.999999``:
    0, 3, 6 or 9 digits, as needed), so nothing the file said is dropped. A timestamp with a
    zone is an instant, kept as one: the file zone's clock with its offset,
    ``YYYY-MM-DDTHH:MM:SS[.fraction]+01:00`` (``Z`` for UTC), as an ISO 8601 export would write
    it. Without the offset the two instants of a clock going back (02:30 CEST and 02:30 CET)
    would be one text. No conversion here: silver converts every instant into the lake's
    ``time_zone`` with one expression on both engines (decision 0017, addendum on the lake's
    time zone) and keeps whole seconds (the fraction is truncated, as for text files)."""
    if dtype == pl.Date:
        return pl.col(column).dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return pl.col(column).dt.strftime("%Y-%m-%d %H:%M:%S%.f")
        offset = "Z" if dtype.time_zone == "UTC" else "%:z"
        return pl.col(column).dt.strftime(f"%Y-%m-%dT%H:%M:%S%.f{offset}")
    return None


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text (dates and timestamps as :func:`temporal_text` writes them)."""
    columns = []
    for name, dtype in frame.schema.items():
        typed = temporal_text(name, dtype)
        columns.append((pl.col(name).cast(pl.String) if typed is None else typed).alias(name))
    return frame.select(columns)


_DIMENSION = re.compile(rb'<dimension ref="[A-Z]+\d+:[A-Z]+(\d+)"')


def check_workbook(path: Path, limits: ReaderLimits) -> None:
    """Refuse an xlsx whose parts would expand past the limits, before anything decompresses
    them: the zip's directory declares every part's uncompressed size, and each sheet declares
    its extent (``<dimension ref="A1:H14000000"/>``) in its first bytes. (A workbook that lies
    about either is stopped by the reader process's memory limit.)"""
    if not zipfile.is_zipfile(path):
        return  # .xls, or not a workbook at all: the reader says which
    with zipfile.ZipFile(path) as archive:
        parts = archive.infolist()
        declared = sum(part.file_size for part in parts)
        if declared > limits.max_workbook_bytes:
            raise FileRefused(
                path,
                f"the workbook expands to {declared / MIB:,.0f} MB, more than the "
                f"{limits.max_workbook_bytes / MIB:,.0f} MB allowed (limits.max_workbook_mb)",
            )
        for part in parts:
            if not part.filename.startswith("xl/worksheets/") or not part.filename.endswith(".xml"):
                continue
            with archive.open(part) as sheet:
                head = sheet.read(4096)
            found = _DIMENSION.search(head)
            if found and int(found.group(1)) > limits.max_workbook_rows:
                raise FileRefused(
                    path,
                    f"sheet {Path(part.filename).stem} has {int(found.group(1)):,} rows, more "
                    f"than the {limits.max_workbook_rows:,} allowed (limits.max_workbook_rows)",
                )


def open_excel(path: Path, limits: ReaderLimits) -> OpenedSource:
    """Every sheet of an .xlsx/.xls workbook; a sheet's row 1 is its header."""
    try:
        check_workbook(path, limits)
    except (zipfile.BadZipFile, OSError) as error:
        raise FileRefused(path, f"not a readable Excel workbook ({error})") from None
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
    for name, frame in sheets.items():
        if frame.height > limits.max_workbook_rows:
            raise FileRefused(
                path,
                f"sheet {name} has {frame.height:,} rows, more than the "
                f"{limits.max_workbook_rows:,} allowed (limits.max_workbook_rows)",
            )
    names_by_sheet = {
        name: checked_header(path, frame.columns, limits) for name, frame in sheets.items()
    }
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


def open_parquet(path: Path, limits: ReaderLimits) -> OpenedSource:
    """A Parquet file, streamed in row batches; ``_row_number`` is the 1-based row index.

    Columns must be flat (a list or struct has no one text form a retail line could hold), and
    binary columns must hold UTF-8 text; otherwise the file is refused with the column named."""
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise FileRefused(path, f"not a readable Parquet file ({error})") from None
    schema = parquet.schema_arrow
    header = list(schema.names)
    names = checked_header(path, header, limits)
    nested = [f"{f.name} ({f.type})" for f in schema if pa.types.is_nested(f.type)]
    if nested:
        raise FileRefused(
            path, f"nested column(s) {', '.join(nested)}: only flat columns can be ingested"
        )
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
            frame = pl.from_arrow(_binary_as_text(path, batch, offset))
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


def _binary_as_text(path: Path, batch: pa.RecordBatch, offset: int) -> pa.Table:
    """Binary columns as UTF-8 text; bytes that are not UTF-8 refuse the file, column named."""
    table = pa.Table.from_batches([batch])
    for index, field in enumerate(table.schema):
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            try:
                text = table.column(index).cast(pa.large_string())
            except pa.ArrowInvalid:
                raise FileRefused(
                    path,
                    f"column {field.name} holds bytes that are not UTF-8 text "
                    f"(rows {offset:,} to {offset + batch.num_rows - 1:,})",
                ) from None
            table = table.set_column(index, field.name, text)
    return table
