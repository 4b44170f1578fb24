"""The reading half of a bronze ingest, run inside the reader worker process (``sandbox.py``).

:func:`stage_file` parses one source file, adds lineage, hashes every line and writes the lines
(and the rejected lines) as Parquet files staged in the tables' folders, invisible until the
parent commits them. Only metadata (layout, counts, the staged file names) goes back to the
parent: the data never crosses the process boundary, and the parent never runs a reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from retail_lakehouse.lake.contracts import contract
from retail_lakehouse.lake.contracts.bronze import BRONZE_REJECTS, BRONZE_SALES_LINES, RAW_COLUMNS
from retail_lakehouse.lake.shaping import DUCKDB_PARQUET_OPTIONS, cast_batch
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.formats import FileEvidence, FormatOptions, Formats, decide_file
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.readers import open_source, readable
from retail_lakehouse.sources.records import SourceChunk, SourceLayout, set_aside_nul
from retail_lakehouse.sources.sniff import FileFacts

if TYPE_CHECKING:
    import duckdb
    import polars as pl

SPLIT_BY_LINE = ("csv", "tsv", "cdc")
"""Formats whose values are not checked for a NUL here: a CSV or TSV line holding one is
already rejected whole by its reader (as is a line with any control character), and a ``cdc``
batch re-emits what ``silver.cdc_lines`` holds (its events were accounted for when applied)."""

# Polars is imported inside the functions that run in the reader worker: the ingest's parent
# process imports this module for its types and for ``stage_file``'s name, and never parses
# (0.09 CPU-s of every ingest, decision 0011 point 26).


@dataclass(frozen=True)
class Lineage:
    """What every line of one ingested file carries besides its values."""

    source_file: str
    sha256: str
    batch_id: str
    batch_seq: int
    ingested_at: datetime
    schema_version: int


@dataclass(frozen=True)
class StageRequest:
    """One file to read and stage; ``known_extra`` are the extra columns bronze already has and
    ``schema_version`` its current version (0: bronze has no schema yet)."""

    path: Path
    facts: FileFacts
    lineage: Lineage  # schema_version is decided by stage_file
    known_extra: tuple[str, ...]
    limits: ReaderLimits
    lines_file: Path
    rejects_file: Path
    formats: FormatOptions = field(default_factory=FormatOptions)  # declarations, default order


@dataclass
class Staged:
    """What the worker staged for one file."""

    layout: SourceLayout
    lineage: Lineage
    new_columns: list[str]
    rows: int
    rejected: int
    blank_lines: int
    files: list[Path] = field(default_factory=list)  # lines file, then the rejects file if any
    facts: FileFacts | None = None  # set by the parent (it hashed the file)
    content_sha256: str | None = None  # what the readers read (a compressed file's content)
    formats: Formats | None = None  # date order and decimal separator, decided while reading
    size_bytes: int = 0  # input bytes when there is no file (a stream micro-batch)
    notes: list[str] = field(default_factory=list)  # the parent's (a same-named earlier file)

    @property
    def schema_changed(self) -> bool:
        """The file started bronze's schema (``initial``) or added columns to it."""
        return bool(self.new_columns) or self.first

    first: bool = False  # the first file bronze ever received


def stage_file(request: StageRequest) -> Staged:
    """Read ``request.path`` and write its staged Parquet files (in the worker process).

    The file's date order and decimal separators are counted on every chunk as it streams past
    (per sheet of a workbook, :mod:`retail_lakehouse.sources.formats`) and decided once it is
    read: a refusal there
    leaves the staged files to the parent to discard, like any other refusal. A compressed
    file's content hash comes back with what was staged (the copy's facts, read anyway to
    detect its encoding): the parent looks it up among the hashes bronze holds, so the request
    does not carry them (1.3 MB pickled at 20,000 files, 67 MB at a million; decision 0008,
    thirteenth round)."""
    with readable(request.path, request.facts, request.limits, request.lines_file) as opened:
        staged = _stage(request, *opened)
        staged.content_sha256 = opened[1].sha256
        return staged


@dataclass(frozen=True)
class ContentRequest:
    """A compressed file already in bronze, from before content hashes were kept: its content
    hash is wanted (:func:`content_sha256`); ``beside`` names where its copy goes."""

    path: Path
    facts: FileFacts
    limits: ReaderLimits
    beside: Path


def content_sha256(request: ContentRequest) -> str:
    """In the worker: the SHA-256 of a compressed file's content, decompressed under the limits
    as for an ingest (the copy is deleted on leaving)."""
    with readable(request.path, request.facts, request.limits, request.beside) as opened:
        return opened[1].sha256


def _stage(request: StageRequest, path: Path, facts: FileFacts) -> Staged:
    """:func:`stage_file` of the file the readers open (``path``: the content of a compressed
    file; refusals still name the file as given, the parent reports them)."""
    limits = request.limits
    declared = request.formats.declared(request.path)
    _, source = open_source(path, facts, limits, declared)
    known = set(request.known_extra)
    new_columns = [c for c in source.layout.extra_columns if c not in known]
    total_extra = len(request.known_extra) + len(new_columns)
    if new_columns and total_extra > limits.max_extra_columns:
        raise FileRefused(
            request.path,
            f"its {len(new_columns)} new column(s) ({', '.join(new_columns[:10])}"
            f"{', ...' if len(new_columns) > 10 else ''}) would widen bronze to {total_extra} "
            f"extra columns, more than the {limits.max_extra_columns} allowed "
            "(limits.max_extra_columns)",
        )
    version = request.lineage.schema_version
    if new_columns or version == 0:
        version += 1
    lineage = Lineage(
        request.lineage.source_file,
        request.lineage.sha256,
        request.lineage.batch_id,
        request.lineage.batch_seq,
        request.lineage.ingested_at,
        version,
    )
    import polars as pl

    rejected: list[pl.DataFrame] = []
    counted = [0]
    evidence = FileEvidence()
    batches = lineage_batches(source.chunks, source.layout, lineage, rejected, counted, evidence)
    write_lines(batches, source.layout, request.lines_file, limits)
    formats = decide_file(request.path, evidence, request.formats)
    files = [request.lines_file]
    rejects = pl.concat(rejected) if rejected else pl.DataFrame()
    if rejects.height:
        table = cast_batch(reject_table(rejects, lineage), contract(BRONZE_REJECTS.qualified))
        pq.write_table(table, request.rejects_file, compression="snappy")
        files.append(request.rejects_file)
    return Staged(
        source.layout,
        lineage,
        new_columns,
        counted[0],
        rejects.height,
        source.blank_lines[0],
        files,
        first=request.lineage.schema_version == 0,
        formats=formats,
    )


def bronze_schema(layout: SourceLayout) -> pa.Schema:
    extra = [pa.field(name, pa.string()) for name in layout.extra_columns]
    fields = list(BRONZE_SALES_LINES.schema)
    return pa.schema([f.with_nullable(True) for f in fields] + extra)


def _unhashed_schema(layout: SourceLayout) -> pa.Schema:
    """The lines as the parser hands them to the writer: everything but ``_record_hash``."""
    return pa.schema([f for f in bronze_schema(layout) if f.name != "_record_hash"])


def record_hash_sql() -> str:
    """``_record_hash`` as a DuckDB expression: MD5 (hex) of the canonical raw columns joined by
    the unit separator, a missing value written as ``\\N``. The one definition of the hash."""
    parts = ", ".join(f"coalesce(\"{c}\", '\\N')" for c in RAW_COLUMNS)
    return f"md5(concat_ws(chr(31), {parts}))"


def write_lines(
    batches: Iterator[pa.RecordBatch], layout: SourceLayout, path: Path, limits: ReaderLimits
) -> None:
    """Write the file's lines as one Parquet file at ``path`` (staged, not yet committed).

    DuckDB hashes each line and encodes the Parquet on both cores while the parser threads
    produce the next chunks, the way silver and the fact are written (decisions 0005, 0006).
    An error while reading the file is re-raised as itself and leaves nothing behind."""
    hashed = _unhashed_schema(layout)
    failure: list[BaseException] = []

    def watched() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except BaseException as error:
            failure.append(error)
            raise

    # Found by DuckDB's replacement scan (registering it would make DuckDB import pandas).
    reader = pa.RecordBatchReader.from_batches(hashed, watched())  # noqa: F841
    location = str(path).replace("'", "''")
    con = _connection(limits)
    try:
        con.execute(
            f"COPY (SELECT *, {record_hash_sql()} AS _record_hash FROM reader) "
            f"TO '{location}' "
            f"({DUCKDB_PARQUET_OPTIONS})"
        )
    except BaseException as error:
        path.unlink(missing_ok=True)
        if failure and failure[0] is not error:
            raise failure[0] from None
        raise


_CONNECTIONS: dict[int, duckdb.DuckDBPyConnection] = {}


def _connection(limits: ReaderLimits) -> duckdb.DuckDBPyConnection:
    """One DuckDB connection per worker process (opening one costs ~25 ms, as much as staging
    a small file), with the worker's memory budget."""
    memory = max(limits.memory_mb // 2, 128)
    con = _CONNECTIONS.get(memory)
    if con is None:
        import duckdb  # the worker's (its warm-up loads it); the ingest's own process never

        con = duckdb.connect()
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")  # the CLI draws its own
        con.execute(f"SET memory_limit = '{memory}MB'")
        _CONNECTIONS[memory] = con
    return con


def _lineage_columns(lineage: Lineage, source_file: str) -> list[pl.Expr]:
    """Lineage that is the same on every line of a chunk, as Polars literals (broadcast without
    copies; ``pa.array`` of a Python value would import pandas, decision 0021)."""
    import polars as pl

    return [
        pl.lit(source_file, pl.String).alias("_source_file"),
        pl.lit(lineage.sha256, pl.String).alias("_source_sha256"),
        pl.lit(lineage.batch_id, pl.String).alias("_batch_id"),
        pl.lit(lineage.batch_seq, pl.Int64).alias("_batch_seq"),
        pl.lit(lineage.ingested_at, pl.Datetime("us", "UTC")).alias("_ingested_at"),
        pl.lit(lineage.schema_version, pl.Int32).alias("_schema_version"),
    ]


def lineage_batches(
    chunks: Iterator[SourceChunk],
    layout: SourceLayout,
    lineage: Lineage,
    rejected: list[pl.DataFrame],
    counted: list[int],
    evidence: FileEvidence | None = None,
) -> Iterator[pa.RecordBatch]:
    """Add lineage to each parsed chunk (vectorised, no row loop), in file order; the record
    hash is added where the lines are written. ``_row_number`` is what tells a line's place: the
    writer may store the batches in another order."""
    import polars as pl

    columns = [*RAW_COLUMNS, *layout.extra_columns]
    hashed = _unhashed_schema(layout)
    names = hashed.names
    values_checked = layout.format not in SPLIT_BY_LINE
    for parsed in chunks:
        chunk = set_aside_nul(parsed, columns) if values_checked else parsed
        if chunk.rejects.height:
            rejected.append(chunk.rejects)
        rows = chunk.rows
        if evidence is not None:
            evidence.add(rows, chunk.part)
        for name in columns:
            if name not in rows.columns:
                rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(name))
        source_file = lineage.source_file + (f"#{chunk.part}" if chunk.part else "")
        data = rows.select(
            *columns, "_row_number", *_lineage_columns(lineage, source_file)
        ).to_arrow()
        counted[0] += rows.height
        yield from data.select(names).cast(hashed).to_batches()


def reject_table(rejects: pl.DataFrame, lineage: Lineage) -> pa.Table:
    constant = {c.meta.output_name(): c for c in _lineage_columns(lineage, lineage.source_file)}
    return rejects.select(
        *(constant[name] for name in ("_source_file", "_source_sha256", "_batch_id", "_batch_seq")),
        "line_number",
        "raw_line",
        "reason",
        constant["_ingested_at"],
    ).to_arrow()
