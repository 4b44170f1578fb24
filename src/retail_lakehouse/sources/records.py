"""The common shape every reader produces: raw string columns, line numbers and rejects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the ingest's parent process only unpickles layouts
    import polars as pl


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
