"""The common shape every reader produces: raw string columns, line numbers and rejects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the ingest's parent process only unpickles layouts
    import polars as pl


CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
"""The C0 control characters but tab, line feed and carriage return: a CSV line holding one is
binary data and is rejected whole (:mod:`~retail_lakehouse.sources.delimited`)."""

NUL_IN_VALUE = "a NUL character in a value (binary data?)"


def _no_rejects() -> pl.DataFrame:
    import polars as pl

    schema = {"line_number": pl.Int64, "raw_line": pl.String, "reason": pl.String}
    return pl.DataFrame(schema=schema)


@dataclass
class SourceChunk:
    """Part of a source file: parsed rows (canonical + ``x_`` extra columns, all strings, plus
    ``_row_number``) and the lines that could not be parsed, each with a reason."""

    rows: pl.DataFrame
    rejects: pl.DataFrame = field(default_factory=_no_rejects)
    part: str | None = None  # e.g. the sheet of a workbook
    blank_lines: int = 0  # empty lines skipped in this part (neither rows nor rejects)


@dataclass
class SourceLayout:
    """How a source file was read, recorded in the ingestion manifest."""

    format: str
    columns: list[str]  # output column names, canonical first
    extra_columns: list[str]
    source_header: list[str]
    encoding: str | None = None
    delimiter: str | None = None


@dataclass
class OpenedSource:
    """A source file ready to stream: its layout and an iterator over its chunks."""

    layout: SourceLayout
    chunks: Iterator[SourceChunk]
    blank_lines: list[int] = field(default_factory=lambda: [0])


def rejects(frame: pl.DataFrame, reason: pl.Expr | str) -> pl.DataFrame:
    """Shape the rejected lines of a frame with ``line_number`` and ``raw`` columns."""
    import polars as pl

    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return frame.select(
        pl.col("line_number").cast(pl.Int64),
        pl.col("raw").alias("raw_line"),
        reason_expr.cast(pl.String).alias("reason"),
    )


def set_aside_nul(chunk: SourceChunk, columns: list[str]) -> SourceChunk:
    """``chunk`` with the rows whose text (any of ``columns``) holds a NUL character moved to its
    rejects, their values as a JSON object for ``raw_line``.

    For the formats whose values arrive already split (a JSON ``\\u0000`` escape, a Parquet
    cell, a stream event); a CSV line with a NUL is already rejected whole. No sale line means a
    NUL, and PostgreSQL's ``text`` cannot store one: once in gold, it made every later
    ``retail publish`` fail. Other control characters stay (decision 0010: vertical tab and
    form feed are trimmed as spaces, the rest kept; PostgreSQL stores them). Vectorised: one
    literal search per text column."""
    import polars as pl

    rows = chunk.rows
    text = [c for c in columns if c in rows.columns and rows.schema[c] == pl.String]
    if not text or rows.height == 0:
        return chunk
    bad = pl.any_horizontal(
        [pl.col(c).str.contains("\x00", literal=True).fill_null(False) for c in text]
    )
    flags = rows.select(bad.alias("bad")).get_column("bad")
    if not flags.any():
        return chunk
    raw = rows.filter(flags).select(
        pl.col("_row_number").alias("line_number"),
        pl.struct(text).struct.json_encode().alias("raw"),
    )
    both = pl.concat([chunk.rejects, rejects(raw, NUL_IN_VALUE)]).sort("line_number")
    return SourceChunk(
        rows=rows.filter(~flags), rejects=both, part=chunk.part, blank_lines=chunk.blank_lines
    )
