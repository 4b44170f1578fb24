"""Bronze: land source files in ``bronze.sales_lines`` exactly as read, with lineage.

Ingesting a file is: reserve its batch number in the run's intent, parse it in bounded chunks,
commit its lines in ONE Delta transaction, then its rejects, its schema change, and last its
manifest row in ``bronze.files``. The manifest is the point of no return: a file is in bronze
exactly when its content hash is there. A command interrupted before it (killed, disk full)
leaves lines whose ``_batch_seq`` is above the manifest's highest one; the next command of any
kind runs :func:`recover_ingest` first, which deletes them (and the batch's rejects and schema
change) and retires the batch number, so nothing is doubled and no number is reused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import (
    BRONZE_FILES,
    BRONZE_REJECTS,
    BRONZE_SALES_LINES,
    RAW_COLUMNS,
)
from retail_lakehouse.lake.contracts.meta import META_SCHEMA_HISTORY
from retail_lakehouse.lake.intents import Intent, raise_floor, read_floor
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.runs import RunContext
from retail_lakehouse.lake.staged import commit_staged, discard, staged_path
from retail_lakehouse.lake.store import DUCKDB_PARQUET_OPTIONS
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.readers import SUPPORTED_SUFFIXES, open_source
from retail_lakehouse.sources.records import SourceChunk, SourceLayout

__all__ = [
    "FileRefused",
    "IngestReport",
    "discover",
    "ingest_file",
    "recover_ingest",
    "remove_orphans",
]

LINES = BRONZE_SALES_LINES.qualified
INGEST_RECOVERY = "retail_lakehouse.pipeline.bronze:recover_ingest"
BATCH_COUNTER = "bronze_batch_seq"


@dataclass
class IngestReport:
    """What happened to one file."""

    path: Path
    status: str  # "ingested" or "skipped"
    rows_ingested: int = 0
    rows_rejected: int = 0
    blank_lines: int = 0
    batch_seq: int | None = None
    note: str = ""


def discover(paths: Iterable[Path]) -> list[Path]:
    """Expand folders (recursively, sorted) into supported files; keep named files as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not p.name.startswith(".")
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FileRefused(path, "no such file or folder")
    return list(dict.fromkeys(found))


def ingest_file(lake: Lake, path: Path, run: RunContext) -> IngestReport:
    """Ingest one file (or skip it when its content is already in bronze)."""
    facts, source = open_source(path)
    with LakeSQL(lake, tables=[BRONZE_FILES.qualified, META_SCHEMA_HISTORY.qualified]) as sql:
        known = sql.arrow(
            "SELECT _batch_seq FROM bronze.files WHERE _source_sha256 = ?", [facts.sha256]
        )
        if known.num_rows:
            seq = known.column("_batch_seq")[0].as_py()
            return IngestReport(path, "skipped", note=f"same content already in batch {seq}")
        seq = sql.arrow("SELECT coalesce(max(_batch_seq), 0) AS s FROM bronze.files")
        batch_seq: int = max(seq.column("s")[0].as_py(), read_floor(lake, BATCH_COUNTER)) + 1
        schema_version = _schema_version(sql)
        new_columns = _new_columns(sql, source.layout)
    batch_id = f"b{batch_seq:06d}-{facts.sha256[:12]}"
    now = datetime.now(UTC)
    if new_columns or schema_version == 0:
        schema_version += 1
    run.note(
        recovery=INGEST_RECOVERY,
        batch_seq=batch_seq,
        schema_version=schema_version,
        schema_change=bool(new_columns or schema_version == 1),
    )
    lineage = _Lineage(str(path), facts.sha256, batch_id, batch_seq, now, schema_version)

    rejected: list[pl.DataFrame] = []
    counted = [0]
    batches = _lineage_batches(source.chunks, source.layout, lineage, rejected, counted)
    _commit_lines(lake, batches, source.layout)
    rejects = pl.concat(rejected) if rejected else pl.DataFrame()
    if rejects.height:
        lake.write(BRONZE_REJECTS.qualified, _reject_table(rejects, lineage))
    if new_columns or schema_version == 1:
        _record_schema_change(lake, run, lineage, source.layout, new_columns)
    lake.write(
        BRONZE_FILES.qualified,
        pa.table(
            {
                "_batch_id": [batch_id],
                "_batch_seq": [batch_seq],
                "_source_file": [str(path)],
                "_source_sha256": [facts.sha256],
                "format": [source.layout.format],
                "encoding": [source.layout.encoding],
                "delimiter": [source.layout.delimiter],
                "size_bytes": [facts.size],
                "rows_ingested": [counted[0]],
                "rows_rejected": [rejects.height],
                "extra_columns": [source.layout.extra_columns],
                "run_id": [run.run_id],
                "_ingested_at": [now],
            }
        ),
    )
    run.count(LINES, rows_out=counted[0])
    run.count(BRONZE_REJECTS.qualified, rows_out=rejects.height)
    run.changed = True
    notes = []
    if source.blank_lines[0]:
        notes.append(f"{source.blank_lines[0]} blank line(s) skipped")
    if new_columns:
        notes.append(f"new column(s) kept: {', '.join(new_columns)}")
    return IngestReport(
        path,
        "ingested",
        counted[0],
        rejects.height,
        source.blank_lines[0],
        batch_seq,
        "; ".join(notes),
    )


def recover_ingest(lake: Lake, intent: Intent) -> str:
    """Undo the file an interrupted ingest had not committed (its manifest row missing): its
    lines, rejects and schema change go, and its batch number is never handed out again.

    Files committed before it in the same command stay: each is complete on its own."""
    removed = remove_orphans(lake)
    batch_seq = intent.notes.get("batch_seq")
    if batch_seq is None or _in_manifest(lake, int(batch_seq)):
        return f"{removed:,} orphan line(s) removed" if removed else ""
    raise_floor(lake, BATCH_COUNTER, int(batch_seq))
    if intent.notes.get("schema_change") and lake.exists(META_SCHEMA_HISTORY.qualified):
        lake.delete(
            META_SCHEMA_HISTORY.qualified,
            f"run_id = '{_quoted(intent.run_id)}' AND table_name = '{LINES}' "
            f"AND schema_version = {int(intent.notes.get('schema_version', 0))}",
        )
    return f"batch {int(batch_seq)} undone ({removed:,} line(s) removed)"


def _in_manifest(lake: Lake, batch_seq: int) -> bool:
    with LakeSQL(lake, tables=[BRONZE_FILES.qualified]) as sql:
        found = sql.arrow(
            "SELECT count(*) AS n FROM bronze.files WHERE _batch_seq = ?", [batch_seq]
        )
    return bool(found.column("n")[0].as_py())


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def remove_orphans(lake: Lake) -> int:
    """Delete lines and rejects of ingests that crashed before their manifest commit."""
    tables = [BRONZE_FILES.qualified, LINES, BRONZE_REJECTS.qualified]
    with LakeSQL(lake, tables=tables) as sql:
        top = sql.arrow("SELECT coalesce(max(_batch_seq), 0) AS s FROM bronze.files")
        high: int = top.column("s")[0].as_py()
        orphans = sql.arrow(
            "SELECT count(*) AS n FROM bronze.sales_lines WHERE _batch_seq > ?", [high]
        )
        count: int = orphans.column("n")[0].as_py()
        stray_rejects = sql.arrow(
            "SELECT count(*) AS n FROM bronze.rejects WHERE _batch_seq > ?", [high]
        )
    if count:
        lake.delete(LINES, f"_batch_seq > {int(high)}")
    if stray_rejects.column("n")[0].as_py():
        lake.delete(BRONZE_REJECTS.qualified, f"_batch_seq > {int(high)}")
    return count


@dataclass(frozen=True)
class _Lineage:
    source_file: str
    sha256: str
    batch_id: str
    batch_seq: int
    ingested_at: datetime
    schema_version: int


def _bronze_schema(layout: SourceLayout) -> pa.Schema:
    extra = [pa.field(name, pa.string()) for name in layout.extra_columns]
    fields = list(BRONZE_SALES_LINES.schema)
    return pa.schema([f.with_nullable(True) for f in fields] + extra)


def _unhashed_schema(layout: SourceLayout) -> pa.Schema:
    """The lines as the parser hands them to the writer: everything but ``_record_hash``."""
    return pa.schema([f for f in _bronze_schema(layout) if f.name != "_record_hash"])


def record_hash_sql() -> str:
    """``_record_hash`` as a DuckDB expression: MD5 (hex) of the canonical raw columns joined by
    the unit separator, a missing value written as ``\\N``. The one definition of the hash."""
    parts = ", ".join(f"coalesce(\"{c}\", '\\N')" for c in RAW_COLUMNS)
    return f"md5(concat_ws(chr(31), {parts}))"


def _commit_lines(lake: Lake, batches: Iterator[pa.RecordBatch], layout: SourceLayout) -> None:
    """Write the file's lines as one staged Parquet file and commit it in one Delta transaction.

    DuckDB hashes each line and encodes the Parquet on both cores while the parser threads
    produce the next chunks, the way silver and the fact are written (decisions 0005, 0006).
    The commit adds new extra columns to the table's schema. An error while reading the file
    is re-raised as itself and leaves nothing behind."""
    hashed = _unhashed_schema(layout)
    failure: list[BaseException] = []

    def watched() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except BaseException as error:
            failure.append(error)
            raise

    reader = pa.RecordBatchReader.from_batches(hashed, watched())  # noqa: F841
    path = staged_path(lake, LINES)
    location = str(path).replace("'", "''")
    try:
        with duckdb.connect() as con:
            con.execute("SET preserve_insertion_order = false")
            con.execute(
                f"COPY (SELECT *, {record_hash_sql()} AS _record_hash FROM reader) "
                f"TO '{location}' "
                f"({DUCKDB_PARQUET_OPTIONS})"
            )
    except BaseException as error:
        discard([path])
        if failure and failure[0] is not error:
            raise failure[0] from None
        raise
    # No discard when the commit raises: the error may come after the commit itself (a
    # post-commit step, a full disk); the recovery removes the file only if no commit names it.
    commit_staged(lake, LINES, [path], replace=None)


def _constant(value: object, type_: pa.DataType, n: int) -> pa.Array:
    """``n`` copies of one value (lineage that is the same on every line of a chunk)."""
    single = pa.array([value], type_)
    return single.take(pa.array(np.zeros(n, dtype=np.int32)))


def _lineage_batches(
    chunks: Iterator[SourceChunk],
    layout: SourceLayout,
    lineage: _Lineage,
    rejected: list[pl.DataFrame],
    counted: list[int],
) -> Iterator[pa.RecordBatch]:
    """Add lineage to each parsed chunk (vectorised, no row loop), in file order; the record
    hash is added where the lines are written. ``_row_number`` is what tells a line's place: the
    writer may store the batches in another order."""
    columns = [*RAW_COLUMNS, *layout.extra_columns]
    hashed = _unhashed_schema(layout)
    names = hashed.names
    for chunk in chunks:
        if chunk.rejects.height:
            rejected.append(chunk.rejects)
        rows = chunk.rows
        for name in columns:
            if name not in rows.columns:
                rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(name))
        n = rows.height
        source_file = lineage.source_file + (f"#{chunk.part}" if chunk.part else "")
        data = rows.select(*columns, "_row_number").to_arrow()
        constants = {
            "_source_file": _constant(source_file, pa.string(), n),
            "_source_sha256": _constant(lineage.sha256, pa.string(), n),
            "_batch_id": _constant(lineage.batch_id, pa.string(), n),
            "_batch_seq": _constant(lineage.batch_seq, pa.int64(), n),
            "_ingested_at": _constant(lineage.ingested_at, pa.timestamp("us", tz="UTC"), n),
            "_schema_version": _constant(lineage.schema_version, pa.int32(), n),
        }
        for name, values in constants.items():
            data = data.append_column(name, values)
        counted[0] += n
        yield from data.select(names).cast(hashed).to_batches()


def _reject_table(rejects: pl.DataFrame, lineage: _Lineage) -> pa.Table:
    n = rejects.height
    return pa.table(
        {
            "_source_file": _constant(lineage.source_file, pa.string(), n),
            "_source_sha256": _constant(lineage.sha256, pa.string(), n),
            "_batch_id": _constant(lineage.batch_id, pa.string(), n),
            "_batch_seq": _constant(lineage.batch_seq, pa.int64(), n),
            "line_number": rejects.get_column("line_number").to_arrow(),
            "raw_line": rejects.get_column("raw_line").to_arrow(),
            "reason": rejects.get_column("reason").to_arrow(),
            "_ingested_at": _constant(lineage.ingested_at, pa.timestamp("us", tz="UTC"), n),
        }
    )


def _schema_version(sql: LakeSQL) -> int:
    result = sql.arrow(
        "SELECT coalesce(max(schema_version), 0) AS v FROM meta.schema_history "
        "WHERE table_name = 'bronze.sales_lines'"
    )
    version: int = result.column("v")[0].as_py()
    return version


def _new_columns(sql: LakeSQL, layout: SourceLayout) -> list[str]:
    """Extra columns no committed schema change of bronze has recorded yet.

    Asked of ``meta.schema_history``, not of the table's schema: an ingest interrupted after
    adding a column to the table (a commit that cannot be undone without rewriting the table)
    but before its manifest has not ingested anything, so the file that brings the column next
    records the change again, as the fault-free lake does."""
    if not layout.extra_columns:
        return []
    recorded = sql.arrow(
        "SELECT DISTINCT unnest(columns) AS c FROM meta.schema_history "
        "WHERE table_name = 'bronze.sales_lines'"
    )
    known = set(RAW_COLUMNS) | set(recorded.column("c").to_pylist())
    return [c for c in layout.extra_columns if c not in known]


def _record_schema_change(
    lake: Lake, run: RunContext, lineage: _Lineage, layout: SourceLayout, new_columns: list[str]
) -> None:
    change = "added_columns" if new_columns else "initial"
    columns = new_columns or list(_bronze_schema(layout).names)
    detail = f"source header: {', '.join(layout.source_header)}"
    lake.write(
        META_SCHEMA_HISTORY.qualified,
        pa.table(
            {
                "changed_at": [lineage.ingested_at],
                "run_id": [run.run_id],
                "table_name": [LINES],
                "source_file": [lineage.source_file],
                "change": [change],
                "columns": [columns],
                "schema_version": pa.array([lineage.schema_version], pa.int32()),
                "detail": [detail],
            }
        ),
    )
