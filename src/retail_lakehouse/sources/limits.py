"""Limits every reader of untrusted files enforces, so a hostile file is refused, not obeyed.

One frozen value object travels from the settings (``[limits]`` in ``retail.toml``) to the reader
worker process. Each limit guards one way a small file can cost a lot: a header of thousands of
columns (bronze would widen for good), a line or field of megabytes, JSON nested thousands deep
(DuckDB's JSON parser recurses and crashes) or with thousands of keys per object, a workbook
whose zip, or a ``.gz`` export whose content, expands to gigabytes. The memory and time limits
are the backstop for everything the specific checks do not foresee; they are enforced on the
worker process (see ``sandbox.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class ReaderLimits:
    """What one source file may contain before it is refused (or its lines rejected)."""

    max_columns: int = 256
    """Columns in a header / distinct top-level JSON keys in a file."""
    max_extra_columns: int = 32
    """Columns a file may add to bronze beyond the canonical ones (all files together: bronze
    never grows wider than the canonical columns plus this many)."""
    max_header_bytes: int = 64 * 1024
    """Length of a header line."""
    max_field_bytes: int = 64 * 1024
    """Length of one value; a longer value rejects its line."""
    max_line_bytes: int = 8 * MIB
    """Length of one physical line of a text file; a longer line refuses the file (a reader
    would have to hold it whole)."""
    max_json_depth: int = 64
    """Nesting of arrays/objects in a JSON record; a deeper NDJSON line is rejected, a deeper
    JSON array file refused."""
    max_json_keys: int = 1024
    """Keys of one JSON object; an NDJSON line with more is rejected."""
    max_workbook_bytes: int = 512 * MIB
    """Declared uncompressed size of an xlsx workbook's parts (checked before it is opened)."""
    max_workbook_rows: int = 1_048_576
    """Rows of one sheet (Excel's own maximum)."""
    max_file_bytes: int = 4096 * MIB
    """Size of one file as given (its ``stat`` size), checked before the command reads a byte of
    it: hashing, the one read the command's own process does, is outside the reader's time
    limit (a 50 GB sparse CSV with a text head was hashed for minutes before any reader saw it).
    The same bound as a compressed file's content (``max_decompressed_bytes``)."""
    max_decompressed_bytes: int = 4096 * MIB
    """Content of one compressed file (``.gz``, ``.bz2``, ``.xz``), checked while it is
    decompressed: a bomb is refused once it has written this much."""
    max_compression_ratio: int = 100
    """How many times larger than its compressed bytes a compressed file's content may grow,
    judged past its first 64 MiB (retail CSVs compress 5-15 times, a bomb a thousand)."""
    memory_mb: int = 2048
    """Resident memory of the reader process (its ~250 MB of libraries included). Staging a big
    ordinary CSV plateaus at 1.0-1.3 GB whatever its size (DuckDB's buffer pool is half of this
    budget), so 1,280 MB refused a 5,000,000-line export about one time in three; 2,048 leaves
    room while a decompression bomb is still stopped far below what it would take."""
    timeout_s: float = 600.0
    """Time one file may take to read and stage."""
