"""Bronze: land source files in ``bronze.sales_lines`` exactly as read, with lineage.

Each file is read and staged as Parquet by the isolated reader worker; staged files are
committed in groups: the group's lines in ONE Delta transaction, then its rejects, its schema
changes, and last its manifest rows in ``bronze.files``. The manifest is the point of no return:
a file is in bronze exactly when its content hash is there. Before committing a group, the run's
intent records the group's batch numbers; a command interrupted before the manifest commit
(killed, disk full) leaves lines whose ``_batch_seq`` is above the manifest's highest one, and
the next command of any kind runs :func:`recover_ingest` first: it deletes them (and the group's
rejects and schema changes) and retires the batch numbers, so nothing is doubled and no number
is ever reused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retail_lakehouse.lake import Lake, arrays
from retail_lakehouse.lake.commits import commit
from retail_lakehouse.lake.contracts.bronze import (
    BRONZE_FILES,
    BRONZE_REJECTS,
    BRONZE_SALES_LINES,
    RAW_COLUMNS,
)
from retail_lakehouse.lake.contracts.meta import META_SCHEMA_HISTORY
from retail_lakehouse.lake.intents import Intent, raise_floor, read_floor
from retail_lakehouse.lake.recovery import highest_retracted_batch
from retail_lakehouse.lake.runs import RunContext
from retail_lakehouse.lake.staged import commit_staged, discard, staged_path
from retail_lakehouse.pipeline.bronze_orphans import remove_orphans
from retail_lakehouse.pipeline.bronze_stage import (
    ContentRequest,
    Lineage,
    Staged,
    StageRequest,
    bronze_schema,
    content_sha256,
    record_hash_sql,
    stage_file,
)
from retail_lakehouse.sources.compressed import COMPRESSIONS, copy_path, split_suffix
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.formats import FormatOptions, Formats
from retail_lakehouse.sources.limits import MIB, ReaderLimits
from retail_lakehouse.sources.readers import BINARY_TEXT, TEXT_SUFFIXES, is_supported
from retail_lakehouse.sources.sandbox import Sandbox
from retail_lakehouse.sources.sniff import file_facts, starts_binary

__all__ = [
    "FileRefused",
    "IngestReport",
    "discover",
    "ingest_file",
    "ingest_files",
    "record_hash_sql",
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
    status: str  # "ingested", "skipped" or "refused"
    rows_ingested: int = 0
    rows_rejected: int = 0
    blank_lines: int = 0
    batch_seq: int | None = None
    note: str = ""
    refused: FileRefused | None = field(default=None, repr=False, compare=False)
    formats: Formats | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. a date order that was assumed


def discover(paths: Iterable[Path], lake_root: Path | None = None) -> list[Path]:
    """Expand folders (recursively, sorted) into supported files; keep named files as given.

    The files of the lake at ``lake_root`` are never input: a folder holding the lake (``retail
    ingest .`` in a project) skips them, a named one is refused (its tables' Parquet files, logs
    and Delta log JSON, or a leftover decompressed copy, are no sales export)."""
    own = lake_root.resolve() if lake_root is not None else None

    def lakes(p: Path) -> bool:
        return own is not None and p.resolve().is_relative_to(own)

    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and is_supported(p) and not p.name.startswith(".") and not lakes(p)
            )
        elif path.is_file():
            if lakes(path):
                raise FileRefused(path, "it is one of the lake's own files, not a sales export")
            found.append(path)
        else:
            raise FileRefused(path, "no such file or folder")
    return list(dict.fromkeys(found))


def ingest_file(
    lake: Lake,
    path: Path,
    run: RunContext,
    *,
    limits: ReaderLimits | None = None,
    sandbox: Sandbox | None = None,
    formats: FormatOptions | None = None,
) -> IngestReport:
    """Ingest one file (or skip it when its content is already in bronze); FileRefused when
    the file is refused. The file is read in a reader worker process, never in this one."""
    report = ingest_files(lake, [path], run, limits=limits, sandbox=sandbox, formats=formats)[0]
    if report.refused is not None:
        raise report.refused
    return report


def ingest_files(
    lake: Lake,
    paths: Sequence[Path],
    run: RunContext,
    *,
    limits: ReaderLimits | None = None,
    sandbox: Sandbox | None = None,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    formats: FormatOptions | None = None,
) -> list[IngestReport]:
    """Ingest files in order; a refused file is reported (``status="refused"``) and the next
    one goes on. Runs under the writer lock (``recorded_run``).

    Each file is read, hashed and staged as Parquet by the reader worker (``bronze_stage``),
    which returns only metadata. Staged files are committed in groups (``GROUP_FILES`` files or
    ``GROUP_BYTES`` of input, whichever first): lines, rejects, schema history, then the
    manifest rows of the whole group, so 2,000 tiny files cost a few dozen commits instead of
    8,000, and the manifest is read once per command instead of once per file.

    ``should_stop`` is asked before each file is read: once it says stop, the files already
    staged are committed and the rest are left for later (a watcher being stopped).

    ``formats`` holds what was declared about the files' dates and numbers (command line,
    ``retail.toml``); the rest is detected by the worker while it reads each file, and decided
    before the file is staged (docs/dates-and-numbers.md)."""
    formats = formats or FormatOptions()
    own = sandbox is None
    box = sandbox or Sandbox(limits)
    limits = box.limits
    state = ManifestState.load(lake)
    reports: list[IngestReport] = []
    group: list[Staged] = []
    group_bytes = 0
    try:
        for index, path in enumerate(paths, start=1):
            if should_stop is not None and should_stop():
                break
            staged = _stage(lake, box, state, path, limits, reports, formats)
            if staged is not None:
                group.append(staged)
                group_bytes += staged_size(staged)
            if group and (len(group) >= GROUP_FILES or group_bytes >= GROUP_BYTES):
                # Once a commit starts its files belong to it: never discarded below, even
                # when the commit fails half-way (orphans are removed by remove_orphans).
                committing, group, group_bytes = group, [], 0
                reports += commit_group(lake, run, committing)
            if progress is not None:
                progress(index)
        if group:
            committing, group = group, []
            reports += commit_group(lake, run, committing)
    finally:
        discard([f for staged in group for f in staged.files])
        if own:
            box.close()
    compact_manifests(lake)
    order = {path: i for i, path in enumerate(paths)}
    return sorted(reports, key=lambda r: order.get(r.path, 0))


GROUP_FILES = 200
GROUP_BYTES = 256 * 2**20


def staged_size(staged: Staged) -> int:
    return sum(f.stat().st_size for f in staged.files if f.exists())


FILE_ROWS = "coalesce(format, '') NOT IN ('stream', 'cdc')"
"""The manifest rows of files (not stream micro-batches nor CDC group batches)."""


@dataclass
class ManifestState:
    """What the ingest needs from the manifest and schema history, read ONCE per command (the
    writer lock is held, so nobody else changes them) and kept current as files are staged."""

    shas: dict[str, int]
    next_seq: int
    schema_version: int
    known_extra: list[str]
    unhashed: dict[str, list[tuple[str, str, int]]] | None = None
    """Compressed files ingested before content hashes were kept, by their name without the
    compression suffix: (file, hash as given, batch). Read when a file is first about to be
    staged (:func:`_compressed_twin`)."""

    @classmethod
    def load(cls, lake: Lake, *, hashes: bool = True) -> ManifestState:
        """``hashes=False`` for a stream micro-batch or a CDC group sync, which never look a
        file up: their cost then does not grow with the manifest (a stream adds a row per
        micro-batch, and every micro-batch loaded all of them: at 1,000,000 rows, 2.2 CPU-s and
        ~300 MB each). With hashes, only files' rows: a stream or CDC batch's hash is of its
        events, never a file's bytes."""
        # A file is known by its hash as given and by its content's (a compressed file's
        # decompressed bytes): the same export plain and gzipped is one file. (A lake from
        # before the column has no content hashes: every file of it was hashed as read.)
        files = lake.delta(BRONZE_FILES.qualified)
        has_content = files is not None and "content_sha256" in files.schema().to_arrow().names
        content_column = "content_sha256" if has_content else "NULL"
        batches = f"FROM t WHERE {FILE_ROWS}"
        sql = (  # the files' hashes, and one row with the highest batch number of all
            f"SELECT _source_sha256, {content_column} AS content_sha256, _batch_seq {batches} "
            "UNION ALL SELECT NULL, NULL, max(_batch_seq) FROM t"
            if hashes
            else "SELECT max(_batch_seq) AS _batch_seq FROM t"
        )
        known = _small_query(lake, BRONZE_FILES.qualified, sql)
        seqs = known.get("_batch_seq", [])
        shas: dict[str, int] = {}
        for column in ("_source_sha256", "content_sha256") if hashes else ():
            shas.update(
                (sha, seq)
                for sha, seq in zip(known.get(column, []), seqs, strict=True)
                if sha is not None
            )
        version = _small_query(
            lake,
            META_SCHEMA_HISTORY.qualified,
            "SELECT coalesce(max(schema_version), 0) AS v FROM t "
            "WHERE table_name = 'bronze.sales_lines'",
        )
        # Extra columns as the committed schema changes record them, not as the table's
        # schema has them: an ingest interrupted after its lines commit widened the table
        # (not undoable without a rewrite) but ingested nothing, so the file that brings the
        # column next records the change again, as in a lake that was never interrupted.
        recorded = _small_query(
            lake,
            META_SCHEMA_HISTORY.qualified,
            "SELECT DISTINCT unnest(columns) AS c FROM t WHERE table_name = 'bronze.sales_lines'",
        )
        raw = set(RAW_COLUMNS)
        extra = sorted(c for c in recorded.get("c", []) if c and c not in raw)
        # Batch numbers are never reused: not a retracted one (recover), nor one an interrupted
        # ingest had reserved (its floor), so the next is above all three.
        return cls(
            shas,
            max(
                max((s for s in seqs if s is not None), default=0),
                highest_retracted_batch(lake),
                read_floor(lake, BATCH_COUNTER),
            )
            + 1,
            (version.get("v") or [0])[0],
            [n for n in extra if n.startswith("x_")],
        )


def _small_query(lake: Lake, qualified: str, sql: str) -> dict[str, list[Any]]:
    """``sql`` over the latest snapshot of one small table (named ``t``), run by delta-rs' own
    engine, as ``retail status`` reads the lake: the ingest's own process need not load DuckDB
    (46 CPU ms) and open a connection with views (28 ms) for the manifest's three reads, which
    are its critical path now that the reader worker starts as a fork (decision 0021, eleventh
    round). Columns by name; a table not created yet reads as no rows."""
    from deltalake import QueryBuilder

    table = lake.delta(qualified)
    if table is None:
        return {}
    result = QueryBuilder().register("t", table).execute(sql).read_all()
    return {name: list(result.column(name).to_pylist()) for name in result.column_names}


def _stage(
    lake: Lake,
    box: Sandbox,
    state: ManifestState,
    path: Path,
    limits: ReaderLimits,
    reports: list[IngestReport],
    formats: FormatOptions,
) -> Staged | None:
    """Read and stage one file in the worker; a skip or a refusal goes straight to reports."""
    inner, compression = split_suffix(path)
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:  # by its size alone: not a byte of it read or hashed
            reports.append(_refusal(FileRefused(path, too_big(size, limits))))
            return None
        if compression is None and inner in TEXT_SUFFIXES and starts_binary(path):
            # Refused before the hash: hashing is the one read of a file this process does,
            # unbounded by the reader's time limit (a 20 GB sparse "CSV" of NULs took 339 s
            # here only for the reader to refuse it by its first 8 KB).
            reports.append(_refusal(FileRefused(path, BINARY_TEXT, line=1)))
            return None
        facts = file_facts(path)  # a streamed hash: safe to do here, and a skip costs no worker
    except OSError as error:
        reports.append(_refusal(FileRefused(path, f"cannot read the file ({error.strerror})")))
        return None
    if facts.sha256 in state.shas:
        seq = state.shas[facts.sha256]
        reports.append(IngestReport(path, "skipped", note=f"same content already in batch {seq}"))
        return None
    twin = _compressed_twin(lake, box, state, path, limits)
    if twin is not None and facts.sha256 in state.shas:
        note = f"same content already in batch {state.shas[facts.sha256]} ({twin}, decompressed)"
        reports.append(IngestReport(path, "skipped", note=note))
        return None
    batch_seq = state.next_seq
    lineage = Lineage(
        str(path),
        facts.sha256,
        f"b{batch_seq:06d}-{facts.sha256[:12]}",
        batch_seq,
        datetime.now(UTC),
        state.schema_version,
    )
    request = StageRequest(
        path,
        facts,
        lineage,
        tuple(state.known_extra),
        limits,
        staged_path(lake, LINES),
        staged_path(lake, BRONZE_REJECTS.qualified),
        formats,
    )
    try:
        staged: Staged = box.call(path, stage_file, request)
    except (FileRefused, OSError) as failed:  # (the worker may have been killed with a copy)
        copy = copy_path(path, request.lines_file)
        discard([request.lines_file, request.rejects_file, *([copy] if copy else [])])
        if not isinstance(failed, FileRefused):
            raise  # the lake's disk is full: the command fails, the file is not refused
        reports.append(_refusal(failed))
        return None
    if compression is not None and staged.content_sha256 in state.shas:
        # a compressed file whose content bronze holds (plain, or compressed otherwise):
        # looked up here, after staging, so the request need not carry every known hash
        discard(staged.files)
        seq = state.shas[staged.content_sha256]
        state.shas[facts.sha256] = seq
        note = f"same content (decompressed) already in batch {seq}"
        reports.append(IngestReport(path, "skipped", note=note))
        return None
    staged.facts = facts
    state.shas[facts.sha256] = batch_seq
    if staged.content_sha256 is not None:
        state.shas[staged.content_sha256] = batch_seq
    state.next_seq += 1
    state.schema_version = staged.lineage.schema_version
    state.known_extra += staged.new_columns
    return staged


def _compressed_twin(
    lake: Lake, box: Sandbox, state: ManifestState, path: Path, limits: ReaderLimits
) -> str | None:
    """Content hashes, computed on first need, of the compressed files a lake took before it
    kept them (``content_sha256`` NULL): ``g.csv`` after such a ``g.csv.gz`` was ingested again
    (silver counted its lines as duplicates). Only files of ``path``'s name without compression
    suffix, still at their path with the bytes bronze hashed, are decompressed (in the worker,
    under the limits), once per command; the name of the last one looked at, or None."""
    if state.unhashed is None:
        state.unhashed = _unhashed_compressed(lake)
    twin = None
    for source_file, sha, seq in state.unhashed.pop(_plain_name(path), []):
        old = Path(source_file)
        try:
            if not old.is_file() or old.stat().st_size > limits.max_file_bytes:
                continue
            old_facts = file_facts(old)
        except OSError:
            continue
        if old_facts.sha256 != sha:
            continue  # another file now has its name
        request = ContentRequest(old, old_facts, limits, staged_path(lake, LINES))
        try:
            state.shas.setdefault(box.call(old, content_sha256, request), seq)
        except (FileRefused, OSError):
            copy = copy_path(old, request.beside)
            discard([copy] if copy else [])
            continue
        twin = source_file
    return twin


def _plain_name(path: Path) -> str:
    return path.name[: -len(path.suffix)] if split_suffix(path)[1] else path.name


def _unhashed_compressed(lake: Lake) -> dict[str, list[tuple[str, str, int]]]:
    files = lake.delta(BRONZE_FILES.qualified)
    if files is None:
        return {}
    names = files.schema().to_arrow().names
    where = " OR ".join(f"lower(_source_file) LIKE '%{s}'" for s in COMPRESSIONS)
    where = f"{FILE_ROWS} AND ({where})"
    if "content_sha256" in names:
        where = f"content_sha256 IS NULL AND {where}"
    found = _small_query(
        lake,
        BRONZE_FILES.qualified,
        f"SELECT _source_file, _source_sha256, _batch_seq FROM t WHERE {where}",
    )
    unhashed: dict[str, list[tuple[str, str, int]]] = {}
    for row in zip(
        found.get("_source_file", []),
        found.get("_source_sha256", []),
        found.get("_batch_seq", []),
        strict=True,
    ):  # (metadata rows of old compressed files, not data)
        unhashed.setdefault(_plain_name(Path(row[0])), []).append(row)
    return unhashed


def too_big(size: int, limits: ReaderLimits) -> str:
    """Why a file of ``size`` bytes is refused before it is read (``limits.max_file_bytes``)."""
    return (
        f"the file is {size:,} bytes, more than the {limits.max_file_bytes // MIB:,} MB allowed "
        "(limits.max_file_mb); nothing of it was read"
    )


def _refusal(refused: FileRefused) -> IngestReport:
    return IngestReport(refused.path, "refused", note=refused.reason, refused=refused)


def commit_group(
    lake: Lake,
    run: RunContext,
    group: list[Staged],
    *,
    transactions: dict[str, int] | None = None,
    recovery: str = INGEST_RECOVERY,
) -> list[IngestReport]:
    """Commit the staged files of a group: lines, rejects, schema history, then the manifest
    rows (the commit point: a file is in bronze exactly when its hash is in the manifest).

    The intent notes the group first (durable before the first commit), so the recovery of an
    interrupted group knows its batch numbers and schema changes.

    ``transactions`` (Delta ``txn`` app id -> version) ride on the manifest commit: a stream
    micro-batch's consumed position, committed atomically with its point of no return.
    ``recovery`` names what undoes an interrupted group (a caller with more to finish names
    its own, which calls :func:`recover_ingest`)."""
    run.note(
        recovery=recovery,
        batches=[s.lineage.batch_seq for s in group],
        schema_versions=[s.lineage.schema_version for s in group if s.schema_changed],
    )
    lines = [s.files[0] for s in group]
    rejects = [f for s in group for f in s.files[1:]]
    commit_staged(lake, LINES, lines, replace=None)
    if rejects:
        commit_staged(lake, BRONZE_REJECTS.qualified, rejects, replace=None)
    changes = [_schema_change_row(run, s) for s in group if s.schema_changed]
    if changes:
        schema_rows = arrays.from_rows(changes, META_SCHEMA_HISTORY.schema)
        lake.write(META_SCHEMA_HISTORY.qualified, schema_rows)
    lake.write(
        BRONZE_FILES.qualified,
        arrays.from_rows([_manifest_row(run, s) for s in group], BRONZE_FILES.schema),
        transactions=transactions,
    )
    reports = []
    for staged in group:
        if staged.facts is not None:  # a file (a stream batch has no path to name)
            run.sources.append(Path(staged.lineage.source_file))  # lineage inputs (observe)
        run.count(LINES, rows_out=staged.rows)
        run.count(BRONZE_REJECTS.qualified, rows_out=staged.rejected)
        notes = []
        if staged.blank_lines:
            notes.append(f"{staged.blank_lines} blank line(s) skipped")
        if staged.new_columns:
            notes.append(f"new column(s) kept: {', '.join(staged.new_columns)}")
        reports.append(
            IngestReport(
                Path(staged.lineage.source_file),
                "ingested",
                staged.rows,
                staged.rejected,
                staged.blank_lines,
                staged.lineage.batch_seq,
                "; ".join(notes),
                formats=staged.formats,
                warnings=list(staged.formats.notes) if staged.formats else [],
            )
        )
    run.changed = True
    return reports


def _manifest_row(run: RunContext, staged: Staged) -> dict[str, object]:
    layout, lineage = staged.layout, staged.lineage
    return {
        "_batch_id": lineage.batch_id,
        "_batch_seq": lineage.batch_seq,
        "_source_file": lineage.source_file,
        "_source_sha256": lineage.sha256,
        "content_sha256": staged.content_sha256,
        "format": layout.format,
        "encoding": layout.encoding,
        "delimiter": layout.delimiter,
        "size_bytes": staged.facts.size if staged.facts else staged.size_bytes,
        "rows_ingested": staged.rows,
        "rows_rejected": staged.rejected,
        "extra_columns": layout.extra_columns,
        **(staged.formats.manifest_columns() if staged.formats else {}),
        "run_id": run.run_id,
        "_ingested_at": lineage.ingested_at,
    }


def _schema_change_row(run: RunContext, staged: Staged) -> dict[str, object]:
    """A ``meta.schema_history`` row: the first file of bronze (``initial``) or new columns."""
    layout, lineage = staged.layout, staged.lineage
    return {
        "changed_at": lineage.ingested_at,
        "run_id": run.run_id,
        "table_name": LINES,
        "source_file": lineage.source_file,
        "change": "added_columns" if staged.new_columns else "initial",
        "columns": staged.new_columns or list(bronze_schema(layout).names),
        "schema_version": lineage.schema_version,
        "detail": f"source header: {', '.join(layout.source_header[:300])}",
    }


def compact_manifests(lake: Lake, min_files: int = 32) -> None:
    """Merge the small files of the manifest and the schema history once they pile up (each
    ingest command adds one): every later command reads them once, so they stay cheap to read
    however many files the lake has seen. A data-preserving rewrite (optimize), safe to
    interrupt: until its commit, readers see the old files."""
    for name in (BRONZE_FILES.qualified, META_SCHEMA_HISTORY.qualified):
        table = lake.delta(name)
        if table is not None and len(table.file_uris()) >= min_files:
            with commit(name) as properties:
                table.optimize.compact(commit_properties=properties)


def recover_ingest(lake: Lake, intent: Intent) -> str:
    """Undo the group an interrupted ingest had not committed (its manifest rows missing): its
    lines, rejects and schema changes go, and its batch numbers are never handed out again.

    Groups committed before it in the same command stay: each is complete on its own."""
    removed = remove_orphans(lake)
    batches = [int(b) for b in intent.notes.get("batches", [])]
    if not batches or _in_manifest(lake, max(batches)):
        return f"{removed:,} orphan line(s) removed" if removed else ""
    raise_floor(lake, BATCH_COUNTER, max(batches))
    versions = [int(v) for v in intent.notes.get("schema_versions", [])]
    if versions and lake.exists(META_SCHEMA_HISTORY.qualified):
        listed = ", ".join(str(v) for v in versions)
        run_id = intent.run_id.replace("'", "''")
        lake.delete(
            META_SCHEMA_HISTORY.qualified,
            f"run_id = '{run_id}' AND table_name = '{LINES}' AND schema_version IN ({listed})",
        )
    which = f"batch {batches[0]}" if len(batches) == 1 else f"batches {min(batches)}-{max(batches)}"
    return f"{which} undone ({removed:,} line(s) removed)"


def _in_manifest(lake: Lake, batch_seq: int) -> bool:
    from retail_lakehouse.lake.query import LakeSQL  # DuckDB: recovery only

    with LakeSQL(lake, tables=[BRONZE_FILES.qualified]) as sql:
        found = sql.arrow(
            "SELECT count(*) AS n FROM bronze.files WHERE _batch_seq = ?", [batch_seq]
        )
    return bool(found.column("n")[0].as_py())
