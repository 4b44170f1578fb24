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

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from retail_lakehouse.lake import Lake, arrays
from retail_lakehouse.lake.commits import commit
from retail_lakehouse.lake.contracts.bronze import (
    BRONZE_FILES,
    BRONZE_REJECTS,
    BRONZE_SALES_LINES,
)
from retail_lakehouse.lake.contracts.meta import META_SCHEMA_HISTORY
from retail_lakehouse.lake.intents import Intent, raise_floor
from retail_lakehouse.lake.runs import RunContext
from retail_lakehouse.lake.staged import commit_staged, discard, staged_path
from retail_lakehouse.pipeline.bronze_manifest import (
    BATCH_COUNTER,
    FILE_ROWS,
    ManifestState,
    same_name_note,
    small_query,
)
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
from retail_lakehouse.sources.readers import TEXT_SUFFIXES, binary_reason, is_supported
from retail_lakehouse.sources.sandbox import Sandbox
from retail_lakehouse.sources.sniff import FileFacts, file_facts, starts_binary

__all__ = [
    "FileRefused",
    "IngestProgress",
    "IngestReport",
    "ManifestState",
    "discover",
    "ingest_file",
    "ingest_files",
    "record_hash_sql",
    "recover_ingest",
    "remove_orphans",
]

LINES = BRONZE_SALES_LINES.qualified
INGEST_RECOVERY = "retail_lakehouse.pipeline.bronze:recover_ingest"


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


def discover(
    paths: Iterable[Path],
    lake_root: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Expand folders (recursively, sorted) into supported files; keep named files as given.

    The files of the lake at ``lake_root`` are never input: a folder holding the lake (``retail
    ingest .`` in a project) skips them, a named one is refused (its tables' Parquet files, logs
    and Delta log JSON, or a leftover decompressed copy, are no sales export). A folder is
    walked once (``os.walk``, symlinked folders not followed, as ``Path.rglob``); only its
    folders and symbolic links are resolved, not every file, so a folder of 100,000 files is
    listed in one pass. ``progress`` hears how many files were found so far."""
    own = lake_root.resolve() if lake_root is not None else None

    def lakes(p: Path) -> bool:
        return own is not None and p.resolve().is_relative_to(own)

    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(_walk(path, lakes, progress, len(found)))
        elif path.is_file():
            if lakes(path):
                raise FileRefused(path, "it is one of the lake's own files, not a sales export")
            found.append(path)
        elif path.exists():  # a pipe, device or socket: reading one could block for ever
            raise FileRefused(
                path, "not a regular file (a pipe, device or socket): only files are read"
            )
        else:
            raise FileRefused(path, "no such file or folder")
    return list(dict.fromkeys(found))


def _walk(
    folder: Path,
    lakes: Callable[[Path], bool],
    progress: Callable[[int], None] | None,
    before: int,
) -> Iterator[Path]:
    """The supported, not hidden files under ``folder``, outside the lake, in no order."""
    count = before
    for top, folders, names in os.walk(folder):
        here = Path(top)
        if lakes(here):
            folders.clear()  # the lake's own folder: nothing under it is input
            continue
        for name in names:
            p = here / name
            if name.startswith(".") or not is_supported(p) or not p.is_file():
                continue  # (a FIFO or device named .csv is no file: never read)
            if p.is_symlink() and lakes(p):
                continue
            count += 1
            if progress is not None:
                progress(count)
            yield p


def ingest_file(
    lake: Lake,
    path: Path,
    run: RunContext,
    *,
    limits: ReaderLimits | None = None,
    sandbox: Sandbox | None = None,
    formats: FormatOptions | None = None,
    replaces: str | None = None,
) -> IngestReport:
    """Ingest one file (or skip it when its content is already in bronze); FileRefused when
    the file is refused. The file is read in a reader worker process, never in this one.
    ``replaces``: the file this one corrects (``retail ingest --replaces``), retracted by the
    caller, so an earlier file of that name is not mentioned."""
    report = ingest_files(
        lake, [path], run, limits=limits, sandbox=sandbox, formats=formats, replaces=replaces
    )[0]
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
    progress: Callable[[IngestProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    formats: FormatOptions | None = None,
    replaces: str | None = None,
) -> list[IngestReport]:
    """Ingest files in order; a refused file is reported (``status="refused"``) and the next
    one goes on. Runs under the writer lock (``recorded_run``).

    Each file is read, hashed and staged as Parquet by the reader worker (``bronze_stage``),
    which returns only metadata. Staged files are committed in groups (``GROUP_FILES`` files or
    ``GROUP_BYTES`` of input, whichever first): lines, rejects, schema history, then the
    manifest rows of the whole group, so 2,000 tiny files cost a few dozen commits instead of
    8,000. The files are hashed here in windows (``LOOKUP_FILES``, ``LOOKUP_BYTES``) and each
    window's hashes and names are looked up in the manifest with one query: what this process
    holds grows with the command's input, never with the lake's history.

    ``should_stop`` is asked before each file is staged (its window may already be hashed):
    once it says stop, the files already staged are committed and the rest are left for later
    (a watcher being stopped). ``progress`` hears the running tally after each file.

    ``formats`` holds what was declared about the files' dates and numbers (command line,
    ``retail.toml``); the rest is detected by the worker while it reads each file, and decided
    before the file is staged (docs/dates-and-numbers.md)."""
    formats = formats or FormatOptions()
    own = sandbox is None
    box = sandbox or Sandbox(limits)
    limits = box.limits
    state = ManifestState.load(lake)
    state.replaced = Path(replaces).name if replaces else None
    reports: list[IngestReport] = []
    group: list[Staged] = []
    group_bytes = 0
    tally = IngestProgress(len(paths))
    counted = 0  # reports already in the tally
    stopped = False
    try:
        for window in _windows(paths, limits, reports):
            # The window's hashes and names in one query (never every hash of the lake).
            state.look_up(
                lake,
                [facts.sha256 for _, facts in window],
                [path.name for path, _ in window],
            )
            for path, facts in window:
                if should_stop is not None and should_stop():
                    stopped = True
                    break
                staged = _stage(lake, box, state, path, facts, limits, reports, formats)
                if staged is not None:
                    group.append(staged)
                    group_bytes += staged_size(staged)
                    tally.lines += staged.rows
                if group and (len(group) >= GROUP_FILES or group_bytes >= GROUP_BYTES):
                    # Once a commit starts its files belong to it: never discarded below, even
                    # when the commit fails half-way (orphans are removed by remove_orphans).
                    committing, group, group_bytes = group, [], 0
                    reports += commit_group(lake, run, committing)
                tally.done = paths_done(paths, tally.done, path)
                for report in reports[counted:]:  # (refusals and skips; never all reports)
                    tally.skipped += report.status == "skipped"
                    if report.refused is not None:
                        tally.refused += 1
                        tally.refusals.append(report.refused)
                counted = len(reports)
                if progress is not None:
                    progress(tally)
            if stopped:
                break
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


LOOKUP_FILES = 256
LOOKUP_BYTES = 64 * 2**20
"""A window of files is hashed before its hashes and names are looked up in one query: up to
``LOOKUP_FILES`` files or ``LOOKUP_BYTES`` of input (a large file is a window of its own)."""


def _windows(
    paths: Sequence[Path], limits: ReaderLimits, reports: list[IngestReport]
) -> Iterator[list[tuple[Path, FileFacts]]]:
    """The files in order, hashed, in windows; a file refused before its hash (too big,
    binary, unreadable) goes straight to ``reports``."""
    window: list[tuple[Path, FileFacts]] = []
    size = 0
    for path in paths:
        facts = _facts(path, limits, reports)
        if facts is None:
            continue
        window.append((path, facts))
        size += facts.size
        if len(window) >= LOOKUP_FILES or size >= LOOKUP_BYTES:
            yield window
            window, size = [], 0
    if window:
        yield window


def paths_done(paths: Sequence[Path], index: int, path: Path) -> int:
    """How many of ``paths`` are done once ``path`` is (refused ones before it count too)."""
    while index < len(paths) and paths[index] != path:
        index += 1
    return min(index + 1, len(paths))


@dataclass
class IngestProgress:
    """How far a command is, for a progress line: files done of ``total``, lines staged, files
    skipped (content already in bronze) and refused. ``refusals`` keeps the refused files'
    reasons so far, for a caller that must say them when the command fails before its end."""

    total: int
    done: int = 0
    lines: int = 0
    skipped: int = 0
    refused: int = 0
    refusals: list[FileRefused] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.done:,} of {self.total:,} files, {self.counts()}"

    def counts(self) -> str:
        """What a progress bar shows after its own ``done/total``."""
        return f"{self.lines:,} lines, {self.skipped:,} skipped, {self.refused:,} refused"


GROUP_FILES = 200
GROUP_BYTES = 256 * 2**20


def staged_size(staged: Staged) -> int:
    return sum(f.stat().st_size for f in staged.files if f.exists())


def _facts(path: Path, limits: ReaderLimits, reports: list[IngestReport]) -> FileFacts | None:
    """The file's hash and size, read in this process; None (and a refusal in ``reports``)
    when it is refused without being read."""
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
            reports.append(_refusal(FileRefused(path, binary_reason(path), line=1)))
            return None
        return file_facts(path)  # a streamed hash: safe to do here, and a skip costs no worker
    except OSError as error:
        reports.append(_refusal(FileRefused(path, f"cannot read the file ({error.strerror})")))
        return None


def _stage(
    lake: Lake,
    box: Sandbox,
    state: ManifestState,
    path: Path,
    facts: FileFacts,
    limits: ReaderLimits,
    reports: list[IngestReport],
    formats: FormatOptions,
) -> Staged | None:
    """Read and stage one file in the worker; a skip or a refusal goes straight to reports.
    The file's hash and name were looked up with its window's (:meth:`ManifestState.look_up`)."""
    compression = split_suffix(path)[1]
    if facts.sha256 in state.seen:
        seq = state.seen[facts.sha256]
        reports.append(IngestReport(path, "skipped", note=f"same content already in batch {seq}"))
        return None
    twin = _compressed_twin(lake, box, state, path, limits)
    if twin is not None and facts.sha256 in state.seen:
        note = f"same content already in batch {state.seen[facts.sha256]} ({twin}, decompressed)"
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
    holder: int | None = None
    if compression is not None and staged.content_sha256 is not None:
        # a compressed file whose content bronze holds (plain, or compressed otherwise):
        # looked up here, after staging, so the request need not carry any known hash
        holder = state.batch_of(lake, staged.content_sha256)
    if holder is not None:
        discard(staged.files)
        state.seen[facts.sha256] = holder
        note = f"same content (decompressed) already in batch {holder}"
        reports.append(IngestReport(path, "skipped", note=note))
        return None
    staged.facts = facts
    earlier = state.names.get(path.name)
    if earlier is not None and path.name != state.replaced:  # one of its name, other content
        staged.notes.append(same_name_note(path, earlier))
    state.seen[facts.sha256] = batch_seq
    if staged.content_sha256 is not None:
        state.seen[staged.content_sha256] = batch_seq
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
            state.seen.setdefault(box.call(old, content_sha256, request), seq)
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
    found = small_query(
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
                warnings=[*staged.notes, *(staged.formats.notes if staged.formats else [])],
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
