"""CSV and TSV files: vectorised field splitting with exact per-line rejects.

Lines without quotes are split on the delimiter; lines with quotes go through one RFC-4180
field regex, and a line whose fields do not rebuild it exactly has broken quoting. Lines with
the wrong number of fields, broken quoting, undecodable bytes or control characters are
rejected with their line number and text; they never stop the file. One record per physical
line is assumed (line breaks inside quoted values are rejected, not guessed at).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from retail_lakehouse.lake.prefetch import ordered_map
from retail_lakehouse.sources.aliases import checked_header
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.lines import LineChunk, iter_line_chunks
from retail_lakehouse.sources.records import (
    CONTROL_CHARACTERS,
    OpenedSource,
    SourceChunk,
    SourceLayout,
    rejects,
)
from retail_lakehouse.sources.sniff import FileFacts, parse_header, sniff_delimiter


def field_pattern(delimiter: str) -> str:
    """Regex matching one field with its leading delimiter: quoted, unquoted or empty."""
    d = re.escape(delimiter)
    return f'(?:^|{d})(?:"(?:[^"]|"")*"|[^{d}"][^{d}]*|)'


def open_delimited(
    path: Path, facts: FileFacts, limits: ReaderLimits, *, delimiter: str | None = None
) -> OpenedSource:
    """Read the header, map it to canonical columns, and stream parsed chunks (``delimiter``:
    declared, instead of the one sniffed from the header)."""
    chunks = iter_line_chunks(
        path, facts.encoding, clean_utf8=facts.clean_utf8, max_line_bytes=limits.max_line_bytes
    )
    first = next(chunks, None)
    if first is None or len(first.lines) == 0 or not first.lines[0].strip():
        raise FileRefused(path, "the file has no header line", line=1)
    header_line: str = first.lines[0]
    if len(header_line.encode()) > limits.max_header_bytes:
        raise FileRefused(
            path,
            f"header line longer than {limits.max_header_bytes:,} bytes (limits.max_header_bytes)",
            line=1,
        )
    if "\ufffd" in header_line:
        raise FileRefused(path, "the header line has undecodable bytes", line=1)
    delimiter = delimiter or sniff_delimiter(header_line, path.suffix.lower())
    header = parse_header(header_line, delimiter)
    names = checked_header(path, header, limits)
    layout = SourceLayout(
        format="tsv" if delimiter == "\t" else "csv",
        columns=names,
        extra_columns=[n for n in names if n.startswith("x_")],
        source_header=header,
        encoding=facts.encoding,
        delimiter=delimiter,
    )
    body = first.lines.slice(1)
    blank = [0]
    work = itertools.chain(
        [LineChunk(first.first_line + 1, body, first.has_control)],
        chunks,
    )

    def parse(chunk: LineChunk) -> SourceChunk:
        return _parse(
            chunk.lines,
            chunk.first_line,
            delimiter,
            names,
            facts.encoding,
            has_control=chunk.has_control,
            max_field_bytes=limits.max_field_bytes,
        )

    def parsed() -> Iterator[SourceChunk]:
        for chunk in ordered_map(parse, work):
            blank[0] += chunk.blank_lines
            yield chunk

    return OpenedSource(layout, parsed(), blank)


def _parse(
    lines: pl.Series,
    first_line: int,
    delimiter: str,
    names: list[str],
    encoding: str,
    *,
    has_control: bool = True,
    max_field_bytes: int | None = None,
) -> SourceChunk:
    frame = pl.DataFrame({"raw": lines}).with_row_index("line_number", offset=first_line)
    is_blank = pl.col("raw").str.strip_chars() == ""
    blank_lines = frame.filter(is_blank).height
    frame = frame.filter(~is_blank)

    # Only the few lines with quotes pay for the field regex (it skips the NULLs the other lines
    # are given); the rest are a plain split. One frame, so the file's line order is kept as is.
    quoted = pl.col("raw").str.contains('"', literal=True)
    unquote = (
        pl.when(pl.element().str.starts_with('"') & pl.element().str.ends_with('"'))
        .then(
            pl.element()
            .str.slice(1, pl.element().str.len_chars() - 2)
            .str.replace_all('""', '"', literal=True)
        )
        .otherwise(pl.element())
    )
    frame = frame.with_columns(
        pl.when(quoted).then(pl.col("raw")).str.extract_all(field_pattern(delimiter)).alias("q")
    ).with_columns(
        (pl.col("q").list.join("") != pl.col("raw")).fill_null(False).alias("broken_quotes"),
        pl.when(pl.col("q").is_null())
        .then(pl.col("raw").str.split(delimiter))
        .otherwise(
            pl.col("q").list.eval(pl.element().str.strip_prefix(delimiter)).list.eval(unquote)
        )
        .alias("fields"),
    )

    n_fields = pl.col("fields").list.len()
    # The control-character regex runs only in a chunk known to hold such a byte somewhere.
    control = pl.col("raw").str.contains(CONTROL_CHARACTERS) if has_control else pl.lit(False)
    # Only a chunk with a line longer than the field limit can hold a too-long field: the
    # per-field lengths are computed for that rare chunk only.
    field_limit = max_field_bytes or 2**62
    longest = frame.get_column("raw").str.len_bytes().max()
    if isinstance(longest, int) and longest > field_limit:
        too_long = pl.col("fields").list.eval(pl.element().str.len_bytes()).list.max() > field_limit
    else:
        too_long = pl.lit(False)
    reason = (
        pl.when(pl.col("raw").str.contains("\ufffd", literal=True))
        .then(pl.lit(f"undecodable bytes (not valid {encoding})"))
        .when(control)
        .then(pl.lit("control characters in the line (binary data?)"))
        .when(pl.col("broken_quotes"))
        .then(pl.lit("broken quoting (unterminated or stray quote)"))
        .when(n_fields != len(names))
        .then(pl.format("expected {} fields, found {}", pl.lit(len(names)), n_fields))
        .when(too_long)
        .then(pl.lit(f"a value longer than {field_limit:,} bytes (limits.max_field_bytes)"))
    )
    frame = frame.with_columns(reason.alias("reason"))
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame.filter(pl.col("reason").is_null())
    rows = good.select(
        *[pl.col("fields").list.get(i).alias(name) for i, name in enumerate(names)],
        pl.col("line_number").cast(pl.Int64).alias("_row_number"),
    )
    return SourceChunk(rows=rows, rejects=rejects(bad, pl.col("reason")), blank_lines=blank_lines)
