"""Delta table access for the whole lake: paths, snapshots, schema-safe writes, the writer lock.

Every write in the project goes through :meth:`Lake.write`, which casts data to the table's
contract first. One writer at a time is enforced with a file lock (concurrent delta-rs writers on
a local file system can lose commits); readers never take it and always see a committed snapshot.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from deltalake import ColumnProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import TableNotFoundError
from filelock import FileLock, Timeout

from retail_lakehouse.lake import arrays
from retail_lakehouse.lake.commits import commit
from retail_lakehouse.lake.contracts import TableContract, contract
from retail_lakehouse.lake.errors import LakeBusyError, LakeFormatError
from retail_lakehouse.lake.fingerprint import latest_version
from retail_lakehouse.lake.holder import HOLDER_FILE, LOCK_FILE
from retail_lakehouse.lake.holder import live_holder as _live_holder
from retail_lakehouse.lake.location import add_actions, data_files
from retail_lakehouse.lake.shaping import (  # re-exported: the store's names since before
    DUCKDB_PARQUET_OPTIONS as DUCKDB_PARQUET_OPTIONS,  # noqa: PLC0414
)
from retail_lakehouse.lake.shaping import ROW_GROUP_ROWS as ROW_GROUP_ROWS  # noqa: PLC0414
from retail_lakehouse.lake.shaping import cast_batch as cast_batch  # noqa: PLC0414

WriteMode = Literal["append", "overwrite"]
DEFAULT_WRITER_WAIT = 10.0
"""Seconds a writing command waits for another one to finish before giving up (``--wait``)."""
LAYERS: tuple[str, ...] = ("bronze", "silver", "gold", "meta")


class Lake:
    """A lake root folder (or URI) holding ``<layer>/<table>`` Delta tables."""

    def __init__(self, root: str | Path, *, writer_wait: float = DEFAULT_WRITER_WAIT) -> None:
        from retail_lakehouse.lake.location import local_root

        self.root = local_root(root).absolute()
        self.writer_wait = writer_wait
        self._latest = threading.local()

    # -- locations -------------------------------------------------------------------------
    def path(self, qualified: str) -> Path:
        layer, _, name = qualified.partition(".")
        if layer not in LAYERS or not name or not name.replace("_", "").isalnum():
            raise ValueError(
                f"not a lake table name: {qualified!r} (expected layer.table, the layer one of "
                f"{', '.join(LAYERS)}; `retail sql 'SHOW TABLES'` lists them)"
            )
        return self.root / layer / name

    def exists(self, qualified: str) -> bool:
        return (self.path(qualified) / "_delta_log").is_dir()

    def tables(self) -> list[str]:
        """Every Delta table present on disk, as ``layer.table``, sorted by layer order."""
        found: list[str] = []
        for layer in LAYERS:
            folder = self.root / layer
            if folder.is_dir():
                found += [
                    f"{layer}.{p.name}"
                    for p in sorted(folder.iterdir())
                    if (p / "_delta_log").is_dir()
                ]
        return found

    # -- snapshots -------------------------------------------------------------------------
    def delta(self, qualified: str, version: int | None = None) -> DeltaTable | None:
        """The table's latest snapshot (or ``version``), None when there is no table.

        The latest one is kept per thread and handed out again while its log has no newer
        commit: an append's ``retail run`` asked for 109 snapshots of 23 tables, each open a
        read of the log costing a millisecond of CPU or more as the log grows (decision 0020,
        seventh round). Two file checks tell that nothing changed: no commit file after the
        snapshot's version, and the version's own commit file is the very one it was read from
        (a table removed and created again has another). Objects are per thread, as before they
        were per call site, because delta-rs moves an object to its own new version when a
        commit goes through it."""
        if version is not None:
            return self._open(qualified, version)
        held: dict[str, tuple[DeltaTable, int, tuple[int, int]]] = self._latest.__dict__
        log = self.path(qualified) / "_delta_log"
        found = held.get(qualified)
        if found is not None:
            table, version_then, stamp = found
            now = table.version()
            current = _log_stamp(log, now)
            if current is not None and (current == stamp or now != version_then):
                # unchanged, or moved on by a commit through this very object (delta-rs then
                # holds the version it wrote), with nothing committed after it
                held[qualified] = (table, now, current)
                return table
        opened = self._open(qualified, None)
        if opened is None:
            held.pop(qualified, None)
            return None
        stamp_now = _log_stamp(log, opened.version())
        if stamp_now is not None:
            held[qualified] = (opened, opened.version(), stamp_now)
        return opened

    def _open(self, qualified: str, version: int | None) -> DeltaTable | None:
        try:
            return DeltaTable(str(self.path(qualified)), version=version)
        except TableNotFoundError:
            return None

    def version(self, qualified: str) -> int | None:
        table = self.delta(qualified)
        return None if table is None else table.version()

    def versions(self) -> dict[str, int | None]:
        return {name: self.version(name) for name in self.tables()}

    def snapshot_files(self, qualified: str, version: int | None = None) -> list[str]:
        """Parquet files of one committed snapshot (what readers scan)."""
        table = self.delta(qualified, version)
        return [] if table is None else data_files(table)

    def file_stats(self, qualified: str) -> pa.Table | None:
        """One row per live data file of the current snapshot, with its size and the Delta
        statistics (``num_records``, ``null_count.<column>``...); None when the table is missing.
        Reads only the log, never the data."""
        table = self.delta(qualified)
        return None if table is None else add_actions(table)

    def arrow_schema(self, qualified: str) -> pa.Schema:
        """The table's schema on disk, or its contract's when the table does not exist yet."""
        table = self.delta(qualified)
        if table is not None:
            return pa.schema(table.schema().to_arrow())
        return contract(qualified).schema

    def read(
        self,
        qualified: str,
        columns: Sequence[str] | None = None,
        *,
        version: int | None = None,
    ) -> pa.Table:
        """Whole-table read for small tables (meta, dimensions); big ones go through engines.
        ``version`` reads that snapshot instead of the latest. Empty (with the contract's
        columns) when the table does not exist.

        Through DuckDB, never delta-rs' ``to_pyarrow_table``: that starts ``pyarrow.dataset``
        scan threads, and under load one could still be in native code when the interpreter
        exits ("terminate called without an active exception", an abort)."""
        from retail_lakehouse.lake.query import LakeSQL, quoted_identifier, read_snapshot

        table = self.delta(qualified, version)
        files = data_files(table) if table is not None else []
        if files:  # the common case: no connection of its own (see ``read_snapshot``)
            return read_snapshot(files, columns)
        cols = ", ".join(quoted_identifier(c) for c in columns) if columns else "*"
        pinned = None if version is None else {qualified: version}
        with LakeSQL(self, tables=[qualified], versions=pinned) as sql:  # contract columns
            return sql.arrow(f"SELECT {cols} FROM {qualified}")

    # -- writes ----------------------------------------------------------------------------
    def write(
        self,
        qualified: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        mode: WriteMode = "append",
        predicate: str | None = None,
        commit_properties: dict[str, str] | None = None,
        transactions: dict[str, int] | None = None,
    ) -> int:
        """Commit ``data`` as one Delta transaction and return the new table version.

        ``predicate`` with ``mode="overwrite"`` replaces only the rows it matches (replaceWhere):
        the way layers rewrite the batches or keys they own without touching the rest.
        ``transactions`` (app id -> version) are Delta transaction identifiers written in the
        same commit (a stream's consumed position, read back with :meth:`transaction_version`)."""
        target = contract(qualified)
        if target.append_only and mode != "append":
            raise ValueError(f"{qualified} is append-only")
        if isinstance(data, pa.RecordBatchReader):
            data = _cast_reader(data, target)
        else:
            data = cast_batch(data, target)
        path = self.path(qualified)
        path.parent.mkdir(parents=True, exist_ok=True)
        creating = not self.exists(qualified)
        if creating:  # the table's first commit carries its descriptions (Delta metadata)
            data = _described(data, target)
        # A whole-table overwrite of a table an earlier version typed differently (text keys,
        # decision 0011) replaces its schema too, in the same commit.
        retyped = (
            mode != "append"
            and predicate is None
            and not creating
            and bool(retyped_columns(self.arrow_schema(qualified), target))
        )
        with commit(qualified, commit_properties, transactions=transactions) as properties:
            if mode == "append":
                write_deltalake(
                    str(path),
                    data,
                    mode="append",
                    schema_mode="merge" if target.evolves else None,
                    commit_properties=properties,
                    writer_properties=_WRITER_PROPERTIES,
                    name=qualified if creating else None,
                    description=target.description or None if creating else None,
                )
            else:
                write_deltalake(
                    str(path),
                    _described(data, target) if retyped else data,
                    mode="overwrite",
                    predicate=predicate,
                    # a table that evolves gains new contract columns on a keyed overwrite too
                    schema_mode="overwrite" if retyped else "merge" if target.evolves else None,
                    commit_properties=properties,
                    writer_properties=_WRITER_PROPERTIES,
                )
        # the version just committed, from the log's listing: opening the table to ask cost
        # 1-2 ms of every write (decision 0014, seventh addendum)
        version = latest_version(path)
        assert version is not None
        return version

    def transaction_version(self, qualified: str, app_id: str) -> int | None:
        """The latest version committed for the Delta transaction identifier ``app_id``."""
        table = self.delta(qualified)
        return None if table is None else table.transaction_version(app_id)

    def ensure(self, qualified: str) -> None:
        """Create an empty table from its contract if it does not exist yet."""
        if not self.exists(qualified):
            self.write(qualified, arrays.empty_table(contract(qualified).schema))

    def delete(self, qualified: str, predicate: str) -> None:
        table = self.delta(qualified)
        if table is not None:
            with commit(qualified) as properties:
                table.delete(predicate, commit_properties=properties)

    @contextlib.contextmanager
    def writer_lock(self, command: str = "retail", wait: float | None = None) -> Iterator[None]:
        """Hold the lake's single-writer lock for the duration of a command.

        A second writer waits up to ``wait`` seconds (default: the lake's ``writer_wait``), then
        fails with :class:`LakeBusyError` naming the holder (pid, command, since), which each
        holder writes next to the lock. The lock is an OS file lock (``flock``): the kernel
        drops it when its process dies, so a killed writer never leaves a stale lock; its
        holder note, left behind, is overwritten by the next writer."""
        refuse_inside_a_table(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / LOCK_FILE))
        limit = self.writer_wait if wait is None else wait
        try:
            lock.acquire(timeout=max(limit, 0.0), poll_interval=0.05)
        except Timeout:
            raise LakeBusyError(_busy_message(self.root, limit)) from None
        holder = self.root / HOLDER_FILE
        try:
            holder.write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "command": command,
                        "since": datetime.now(UTC).isoformat(timespec="seconds"),
                    }
                ),
                encoding="utf-8",
            )
            yield
        finally:
            holder.unlink(missing_ok=True)
            lock.release()

    def writer(self) -> dict[str, Any] | None:
        """The process writing to the lake now (pid, command, since), or None when none is.

        Read without touching the lock: readers are never blocked by, and never block, a
        writer. A note whose process is gone is left by a killed writer and means nothing."""
        return _live_holder(self.root)


UNIQUE_TEXT_COLUMNS = ("_record_hash", "_line_key")
"""Per-line hashes: a dictionary never pays off for them, and trying costs ~20% of a write."""

_WRITER_PROPERTIES = WriterProperties(
    max_row_group_size=ROW_GROUP_ROWS,
    compression="SNAPPY",
    column_properties={c: ColumnProperties(dictionary_enabled=False) for c in UNIQUE_TEXT_COLUMNS},
)


def _log_stamp(log: Path, version: int) -> tuple[int, int] | None:
    """What identifies the latest snapshot at ``version`` of the table whose log is ``log``:
    its commit file's inode and modification time, or None when the version is no longer the
    latest (a later commit file exists) or its commit file is gone (the table was removed)."""
    if (log / f"{version + 1:020d}.json").exists():
        return None
    try:
        stat = (log / f"{version:020d}.json").stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def described_schema(schema: pa.Schema, target: TableContract) -> pa.Schema:
    """``schema`` with each described column's text as its ``comment`` (Delta keeps field
    metadata in the table schema, where Spark, Databricks and Trino show it)."""
    fields = []
    for f in schema:
        text = target.column_description(f.name)
        fields.append(
            f.with_metadata({**(f.metadata or {}), b"comment": text.encode()}) if text else f
        )
    return pa.schema(fields, metadata=schema.metadata)


def retyped_columns(on_disk: pa.Schema, target: TableContract) -> list[str]:
    """Contract columns whose type on disk differs (a table written by an earlier version)."""
    return [
        field.name
        for field in target.schema
        if field.name in on_disk.names and on_disk.field(field.name).type != field.type
    ]


def _described(
    data: pa.Table | pa.RecordBatchReader, target: TableContract
) -> pa.Table | pa.RecordBatchReader:
    schema = described_schema(data.schema, target)
    if isinstance(data, pa.Table):
        return pa.Table.from_arrays(data.columns, schema=schema)
    batches = (pa.RecordBatch.from_arrays(b.columns, schema=schema) for b in data)
    return pa.RecordBatchReader.from_batches(schema, batches)


def _cast_reader(reader: pa.RecordBatchReader, target: TableContract) -> pa.RecordBatchReader:
    schema = cast_batch(arrays.empty_table(reader.schema), target).schema

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield from cast_batch(batch, target).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


WRITER_PROPERTIES = _WRITER_PROPERTIES
"""Parquet writer settings of every file delta-rs writes for the lake (also compaction's)."""


def _busy_message(root: Path, waited: float) -> str:
    holder = _live_holder(root)
    who = (
        f"{holder.get('command', '?')} (pid {holder.get('pid')}, since {holder.get('since')})"
        if holder
        else "another retail process"
    )
    return (
        f"the lake {root} is busy: {who} holds the writer lock; waited {waited:g}s. "
        "Try again when it finishes, or wait longer with --wait SECONDS."
    )


def refuse_inside_a_table(root: Path) -> None:
    """Refuse (:class:`LakeFormatError`, exit 2) to write a lake at ``root`` when ``root`` or a
    folder above it is a Delta table (holds ``_delta_log``): a table's folder holds only what
    its log references, so the outer lake's ``retail vacuum`` deletes every file of a lake made
    inside it (``--lake lake/gold/fact_sales/x``: 13 files, the inner lake's log among them).
    A few ``stat`` calls, before the writer lock makes its first file there."""
    here = root.absolute()
    for folder in (here, *here.parents):
        if (folder / "_delta_log").is_dir():
            raise LakeFormatError(
                f"{folder} is a Delta table (it holds _delta_log): a lake at {root} would be "
                "inside it, and that table's vacuum deletes every file it does not reference. "
                "Choose a lake folder outside every table"
            )
