"""Split text files into numbered lines, in bounded chunks, without a Python loop over lines.

Every physical line keeps its line number (the header is line 1), so any later problem can name
the exact line. Line boundaries are found with numpy on the raw bytes and the lines become one
Arrow string array over the same buffer (zero copy for clean UTF-8 files).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

CHUNK_BYTES = 8 * 1024 * 1024
"""Bytes of the file read and parsed at once. The bronze copy (DuckDB) starts on the first chunk
once it is parsed, and finishes the last one after the parse is done: at 16 MB the 43 MB
retail file was three chunks and DuckDB idled while the first one was read and parsed; at 8 MB
(six) the parse and the copy overlap longer: 0.08 s off the stage on a contended machine, not
measurable on a quiet one, and 12-17% less peak memory for the ingest (decision 0021, ninth
round). Smaller chunks cost more CPU than they save (4 MB, 2 MB)."""


@dataclass(frozen=True)
class LineChunk:
    """Consecutive lines of a file: ``first_line`` is the number of the chunk's first line."""

    first_line: int
    lines: pl.Series  # utf-8 text, line endings removed
    has_control: bool = True  # False: no line holds a control byte (no per-line check needed)
    longest: int = 0  # bytes of the chunk's longest line


def iter_line_chunks(
    path: Path,
    encoding: str,
    *,
    clean_utf8: bool,
    chunk_bytes: int = CHUNK_BYTES,
    max_line_bytes: int | None = None,
) -> Iterator[LineChunk]:
    """Yield the file's lines chunk by chunk, decoded to UTF-8 (bad bytes become U+FFFD).

    A line longer than ``max_line_bytes`` refuses the file: holding it whole is what a reader
    cannot afford (a 50 MB line without a line break is not a retail export)."""
    from retail_lakehouse.sources.errors import FileRefused

    limit = max_line_bytes or 2**62

    def too_long(line: int) -> FileRefused:
        return FileRefused(
            path,
            f"a line (at or after line {line}) longer than {limit:,} bytes (limits.max_line_bytes)",
        )

    next_line = 1
    carry = b""
    with path.open("rb") as handle:
        first = True
        while True:
            block = handle.read(chunk_bytes)
            if first and block.startswith(codecs.BOM_UTF8):
                block = block[len(codecs.BOM_UTF8) :]
            first = False
            data = carry + block
            if not block:
                if data:
                    chunk = _chunk(data, next_line, encoding, clean_utf8)
                    if chunk.longest > limit:
                        raise too_long(next_line)
                    yield chunk
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) > limit:
                    raise too_long(next_line)
                carry = data
                continue
            carry = data[cut + 1 :]
            chunk = _chunk(data[: cut + 1], next_line, encoding, clean_utf8)
            if chunk.longest > limit:
                raise too_long(next_line)
            next_line += len(chunk.lines)
            yield chunk


def _chunk(data: bytes, first_line: int, encoding: str, clean_utf8: bool) -> LineChunk:
    if not clean_utf8 or encoding == "cp1252":
        source = "cp1252" if encoding == "cp1252" else "utf-8"
        data = data.decode(source, errors="replace").encode("utf-8")
    buffer = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buffer == 10) + 1
    # Bytes below 32 other than tab, CR and LF: counted once per chunk, so the per-line check
    # runs only for the rare chunk that has one.
    below_space = int(np.count_nonzero(buffer < 32))
    expected = len(ends) + data.count(b"\t") + data.count(b"\r")
    if len(ends) == 0 or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    array = pa.LargeStringArray.from_buffers(
        len(ends), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)
    )
    series = pl.Series("raw", array).str.strip_chars_end("\r\n")
    longest = int(np.diff(offsets).max()) if len(offsets) > 1 else 0
    return LineChunk(first_line, series, has_control=below_space > expected, longest=longest)
