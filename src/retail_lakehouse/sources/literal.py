"""A file's path as DuckDB's readers take it literally.

DuckDB expands glob patterns in the path it is given to read (``*``, ``?``, ``[...]``), so a
file named ``sales[1].json`` was read as ``sales1.json``, and ``q?.json`` as every ``q<x>.json``
beside it. Each such character is put in a one-character class (``[*]``, ``[?]``, ``[[]``),
which matches exactly that character (a path without them is unchanged)."""

from __future__ import annotations

import re
from pathlib import Path

_GLOB = re.compile(r"([*?\[])")


def duckdb_literal(path: Path) -> str:
    return _GLOB.sub(r"[\1]", str(path))
