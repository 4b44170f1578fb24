"""Pick the reader for a file by its extension, after checking what the bytes are."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from retail_lakehouse.sources.compressed import COMPRESSIONS, decompressed, split_suffix
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.sniff import FileFacts, file_facts

if TYPE_CHECKING:
    from retail_lakehouse.sources.formats import Declared
    from retail_lakehouse.sources.records import OpenedSource

TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".json", ".ndjson", ".jsonl"}
BINARY_SUFFIXES = {".xlsx", ".xls", ".parquet"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | BINARY_SUFFIXES
SUPPORTED_TEXT = "csv, tsv, txt, json, ndjson, jsonl, xlsx/xls, parquet; the text formats also "
SUPPORTED_TEXT += f"compressed ({', '.join(sorted(COMPRESSIONS, key=len))})"
"""The supported formats, as help texts and messages name them."""
BINARY_TEXT = "binary content in a text file (NUL or control bytes)"

UTF16_TEXT = (
    "UTF-16 or UTF-32 text (it starts with that byte order mark): save it as UTF-8 "
    "(in Excel: CSV UTF-8) and ingest that"
)


def binary_reason(path: Path) -> str:
    """Why a text file that reads as binary is refused: Excel's "Unicode Text" export is
    UTF-16 with a byte order mark, whose every other byte is a NUL, and "binary content" sent
    its user looking for a damaged file (sixteenth round's audit)."""
    import codecs

    marks = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError:
        return BINARY_TEXT
    return UTF16_TEXT if head.startswith(marks) else BINARY_TEXT


"""Why a text file that starts with binary bytes is refused (:func:`sniff.binary_head`)."""


def is_supported(path: Path) -> bool:
    """Whether a folder's file is one to ingest: a supported format, compressed or not (a
    compressed binary format is picked too, to be refused with the reason)."""
    return split_suffix(path)[0] in SUPPORTED_SUFFIXES


@contextlib.contextmanager
def readable(
    path: Path, facts: FileFacts, limits: ReaderLimits, beside: Path
) -> Iterator[tuple[Path, FileFacts]]:
    """The file the readers open for ``path``, with its facts: ``path`` itself, or the content
    of a compressed text file decompressed beside the staged file ``beside`` (in the worker,
    under the limits; deleted on leaving). The facts of the content decide its encoding; the
    hash of the file as given stays the parent's (lineage, manifest)."""
    inner, compression = split_suffix(path)
    if compression is not None and inner not in TEXT_SUFFIXES:
        raise FileRefused(
            path,
            f"a compressed {inner or 'file without a format suffix'}: only text formats "
            f"({', '.join(sorted(s.lstrip('.') for s in TEXT_SUFFIXES))}) may be compressed",
        )
    with decompressed(path, limits, beside) as copy:
        yield copy, (facts if copy == path else file_facts(copy))


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
        raise FileRefused(path, binary_reason(path), line=1)
    if suffix in {".json", ".ndjson", ".jsonl"}:
        return facts, open_json(path, facts, limits)
    if suffix in {".xlsx", ".xls"}:
        return facts, open_excel(path, limits)
    if suffix == ".parquet":
        return facts, open_parquet(path, limits)
    delimiter = declared.delimiter if declared is not None else None
    return facts, open_delimited(path, facts, limits, delimiter=delimiter)
