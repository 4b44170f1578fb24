"""Pick the reader for a file by its extension, after checking what the bytes are."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.sniff import FileFacts, file_facts

if TYPE_CHECKING:
    from retail_lakehouse.sources.formats import Declared
    from retail_lakehouse.sources.records import OpenedSource

TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".json", ".ndjson", ".jsonl"}
BINARY_SUFFIXES = {".xlsx", ".xls", ".parquet"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | BINARY_SUFFIXES


def open_source(
    path: Path,
    facts: FileFacts | None = None,
    limits: ReaderLimits | None = None,
    declared: Declared | None = None,
) -> tuple[FileFacts, OpenedSource]:
    """Facts about the file and a stream of its parsed chunks; FileRefused when unreadable.

    Untrusted files are read this way only inside the reader worker process (``sandbox.py``),
    whose memory and time limits back up ``limits``. A declared encoding or delimiter
    (``[[formats.sources]]`` in ``retail.toml``) replaces the detected one."""
    # The readers (Polars) are imported here, in the reader worker: processes that only ask
    # which files are supported (the ingest's parent, the watcher) never load Polars.
    from retail_lakehouse.sources.delimited import open_delimited
    from retail_lakehouse.sources.jsonl import open_json
    from retail_lakehouse.sources.tabular import open_excel, open_parquet

    limits = limits or ReaderLimits()
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise FileRefused(path, f"unsupported file type {suffix or '(none)'}")
    facts = facts or file_facts(path)
    if declared is not None and declared.encoding:
        facts = dataclasses.replace(facts, encoding=declared.encoding)
    if facts.size == 0:
        raise FileRefused(path, "the file is empty")
    if suffix in TEXT_SUFFIXES and facts.looks_binary:
        raise FileRefused(path, "binary content in a text file (NUL or control bytes)", line=1)
    if suffix in {".json", ".ndjson", ".jsonl"}:
        return facts, open_json(path, facts, limits)
    if suffix in {".xlsx", ".xls"}:
        return facts, open_excel(path, limits)
    if suffix == ".parquet":
        return facts, open_parquet(path, limits)
    delimiter = declared.delimiter if declared is not None else None
    return facts, open_delimited(path, facts, limits, delimiter=delimiter)
