"""Committing Parquet files an engine wrote straight into a table's folder.

The big layer outputs (bronze lines, silver lines, quarantine, the fact) are written by DuckDB
itself: its ``COPY ... TO`` encodes Parquet on all cores from its own vectors, which costs half of
exporting the same rows to Arrow and re-encoding them with delta-rs. The files land in the
table's folder under names the Delta log does not know yet, so no reader sees them (a crash
leaves only unreferenced files, which ``VACUUM`` removes); :func:`commit_staged` then makes them
visible in ONE Delta commit, together with the removal of the files they replace.

Replacement is by batch, the way every layer rewrites what it owns: the files whose
``_batch_seq`` range (from the log's statistics) lies entirely in the replaced batches are
removed. A file holding both replaced and kept batches cannot be dropped whole; then the rows
are rewritten through delta-rs' predicate overwrite instead (correct, just slower).
"""

from __future__ import annotations

import json
import math
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, Field, Schema
from deltalake.schema import PrimitiveType
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from retail_lakehouse.lake import arrays
from retail_lakehouse.lake.commits import commit
from retail_lakehouse.lake.contracts import TableContract, contract
from retail_lakehouse.lake.location import add_actions
from retail_lakehouse.lake.store import Lake, cast_batch, described_schema, retyped_columns

BATCH_COLUMN = "_batch_seq"
_MAX_STAT_TEXT = 64  # longer text gets no min/max (a cut value is no valid upper bound)


@dataclass(frozen=True)
class BatchSelection:
    """The batches a commit replaces: those above ``above`` plus the ``listed`` ones; ``everything``
    replaces the whole table (a full refresh).

    ``column`` names another ordered column to select by instead of ``_batch_seq`` (a mart
    replaces its months from a given one on: ``column="month", above=<the day before>``)."""

    above: int | date | None = None
    listed: frozenset[int] = field(default_factory=frozenset)
    everything: bool = False
    column: str = BATCH_COLUMN

    def predicate(self) -> str:
        """The same selection as a delta-rs predicate (for the fallback path)."""
        parts = []
        if isinstance(self.above, date):
            parts.append(f"{self.column} > '{self.above.isoformat()}'")
        elif self.above is not None:
            parts.append(f"{self.column} > {int(self.above)}")
        if self.listed:
            listed = ", ".join(str(int(v)) for v in sorted(self.listed))
            parts.append(f"{self.column} IN ({listed})")
        return " OR ".join(f"({p})" for p in parts) or "false"

    def covers(self, low: Any, high: Any) -> bool | None:
        """True when every batch in ``[low, high]`` is replaced, False when none is, None when
        some are (the file must be rewritten row by row)."""
        inside = [
            self.above is not None and low > self.above,
            low == high and low in self.listed,
        ]
        if any(inside):
            return True
        touches = (self.above is not None and high > self.above) or any(
            low <= v <= high for v in self.listed
        )
        return None if touches else False


def staged_path(lake: Lake, qualified: str) -> Path:
    """A fresh file name inside the table's folder, unknown to the Delta log."""
    folder = lake.path(qualified)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"part-{uuid.uuid4()}-c000.snappy.parquet"


def staged_files(location: Path) -> list[Path]:
    """The Parquet files of one staged output: the file itself, or, when an engine wrote a
    folder of part files there (Spark's executors each write their own), its ``*.parquet``
    files (Spark's ``_SUCCESS`` and ``.crc`` markers left out)."""
    if location.is_dir():
        return sorted(p for p in location.glob("*.parquet") if not p.name.startswith(("_", ".")))
    return [location] if location.exists() else []


def discard(files: Sequence[Path]) -> None:
    """Delete staged files (or staged folders) that will never be committed (a gate fired)."""
    for path in files:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def write_empty(target: TableContract, path: Path) -> None:
    """A staged file with no rows (committing it adds nothing; it still replaces batches)."""
    pq.write_table(arrays.empty_table(target.schema), path)


def staged_rows(files: Sequence[Path]) -> int:
    """Rows in the staged files (from their footers)."""
    return sum(_rows(path) for location in files for path in staged_files(location))


def commit_staged(
    lake: Lake,
    qualified: str,
    files: Sequence[Path],
    replace: BatchSelection | None,
    extra: Mapping[str, str] | None = None,
) -> int:
    """Make ``files`` part of the table in one commit, replacing the ``replace`` batches
    (nothing replaced when None: a plain append). Returns the new table version. ``extra``
    rides in the commit's metadata (what the rows were built with, read back by the next run).

    A table that does not exist yet is created by this same commit (its first version holds
    the data). New columns of a table that evolves are added to its schema first. A staged
    folder (Spark's part files) is committed file by file, at its path below the table folder.
    """
    folders = [location for location in files if location.is_dir()]
    files = [path for location in files for path in staged_files(location)]
    version = _commit_files(lake, qualified, files, replace, extra)
    for folder in folders:  # Spark's _SUCCESS and checksum markers: no reader needs them
        for marker in folder.iterdir():
            if marker.name.startswith(("_", ".")):
                marker.unlink(missing_ok=True)
    return version


def _commit_files(
    lake: Lake,
    qualified: str,
    files: Sequence[Path],
    replace: BatchSelection | None,
    extra: Mapping[str, str] | None = None,
) -> int:
    table = lake.delta(qualified)
    footers = {path: pq.ParquetFile(path).metadata for path in files}
    target = contract(qualified)
    if table is None:
        known = cast_batch(arrays.empty_table(target.schema), target).schema
    else:
        known = pa.schema(table.schema().to_arrow())
    added = _new_columns(known, target, footers.values())
    if table is not None and replace is not None and replace.everything:
        retyped = retyped_columns(known, target)
        if retyped:  # a full refresh of a table an earlier version typed differently
            return _replace_with_contract(
                lake, qualified, table, files, footers, known, added, extra
            )
    removals: list[RemoveAction] = []
    if table is not None and replace is not None:
        chosen = _files_to_remove(table, replace)
        if chosen is None:
            _add_columns(table, qualified, added)
            return _rewrite(lake, qualified, files, replace)
        removals = chosen
    discard([path for path in files if not footers[path].num_rows])  # an empty file adds nothing
    folder = lake.path(qualified)
    adds = [
        _add_action(folder, path, footer) for path, footer in footers.items() if footer.num_rows
    ]
    if table is None:  # created by this commit: version 0 holds the files' rows
        schema = known
        for name in added:
            schema = schema.append(pa.field(name, pa.string()))
        with commit(qualified, extra) as properties:
            create_table_with_add_actions(
                str(folder),
                Schema.from_arrow(described_schema(schema, target)),
                adds,
                mode="error",
                name=qualified,
                description=target.description or None,
                commit_properties=properties,
            )
        return 0
    _add_columns(table, qualified, added)
    if not adds and not removals:
        version: int = table.version()
        return version
    with commit(qualified, extra) as properties:
        table.create_write_transaction(
            [*adds, *removals],
            mode="append",
            schema=table.schema(),
            commit_properties=properties,
        )
    new_version = lake.version(qualified)
    assert new_version is not None
    return new_version


def _replace_with_contract(
    lake: Lake,
    qualified: str,
    table: DeltaTable,
    files: Sequence[Path],
    footers: dict[Path, Any],
    known: pa.Schema,
    added: list[str],
    extra: Mapping[str, str] | None = None,
) -> int:
    """Replace the whole table and its schema in one overwrite commit: the contract's types,
    then the string columns the table had or the files add beyond it (decision 0011)."""
    target = contract(qualified)
    schema = cast_batch(arrays.empty_table(target.schema), target).schema
    for name in [*known.names, *added]:
        if name not in schema.names:
            schema = schema.append(pa.field(name, pa.string()))
    discard([path for path in files if not footers[path].num_rows])
    folder = lake.path(qualified)
    adds: list[AddAction | RemoveAction] = [
        _add_action(folder, path, footer) for path, footer in footers.items() if footer.num_rows
    ]
    with commit(qualified, extra) as properties:
        table.create_write_transaction(
            adds,
            mode="overwrite",
            schema=Schema.from_arrow(described_schema(schema, target)),
            commit_properties=properties,
        )
    version = lake.version(qualified)
    assert version is not None
    return version


def _add_columns(table: DeltaTable, qualified: str, names: list[str]) -> None:
    """Extend an evolving table's schema with the (string) columns the files add: a metadata
    commit of its own (delta-rs ignores a wider schema on an append to an existing table)."""
    if names:
        fields = [Field(n, PrimitiveType("string"), nullable=True) for n in names]
        with commit(f"{qualified}.schema") as properties:
            table.alter.add_columns(fields, commit_properties=properties)


def _new_columns(
    known: pa.Schema, target: TableContract, footers: Iterable[pq.FileMetaData]
) -> list[str]:
    """Columns of the staged files the table does not have yet (only tables that evolve)."""
    if not target.evolves:
        return []
    names: dict[str, None] = {}
    for footer in footers:
        for name in footer.schema.to_arrow_schema().names:
            if name not in known.names:
                names[name] = None
    return list(names)


def _rows(path: Path) -> int:
    rows: int = pq.ParquetFile(path).metadata.num_rows
    return rows


def _files_to_remove(table: DeltaTable, replace: BatchSelection) -> list[RemoveAction] | None:
    actions = add_actions(table)
    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    now = int(time.time() * 1000)
    if replace.everything:
        chosen = list(range(len(paths)))
    else:
        low_name, high_name = f"min.{replace.column}", f"max.{replace.column}"
        if paths and (
            low_name not in actions.column_names or high_name not in actions.column_names
        ):
            return None
        lows: list[Any] = actions.column(low_name).to_pylist() if paths else []
        highs: list[Any] = actions.column(high_name).to_pylist() if paths else []
        chosen = []
        for index, (low, high) in enumerate(zip(lows, highs, strict=True)):
            if low is None or high is None:
                return None  # no statistics: cannot tell, rewrite by predicate
            if isinstance(replace.above, date):  # statistics of a date column: ISO text
                covered = replace.covers(_as_date(low), _as_date(high))
            else:
                covered = replace.covers(int(low), int(high))
            if covered is None:
                return None
            if covered:
                chosen.append(index)
    return [
        RemoveAction(path=paths[i], data_change=True, deletion_timestamp=now, size=sizes[i])
        for i in chosen
    ]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _rewrite(lake: Lake, qualified: str, files: Sequence[Path], replace: BatchSelection) -> int:
    """Fallback: replace the rows through delta-rs' predicate overwrite, then drop the staged
    files (read as one stream, so memory stays bounded)."""
    import pyarrow.dataset as ds  # here: it imports pandas (0.25 s), and this path is rare

    reader = ds.dataset([str(p) for p in files], format="parquet").scanner().to_reader()
    try:
        return lake.write(qualified, reader, mode="overwrite", predicate=replace.predicate())
    finally:
        discard(files)


def _add_action(folder: Path, path: Path, metadata: pq.FileMetaData) -> AddAction:
    stat = path.stat()
    return AddAction(
        path=path.relative_to(folder).as_posix(),
        size=stat.st_size,
        partition_values={},
        modification_time=int(stat.st_mtime * 1000),
        data_change=True,
        stats=json.dumps(file_statistics(metadata)),
    )


add_action = _add_action
"""The Delta add action of a Parquet file already in a table's folder (also used by restore)."""


def file_statistics(metadata: pq.FileMetaData) -> dict[str, Any]:
    """Delta statistics (row count, per-column min, max and null count) from a Parquet footer,
    in the formats delta-rs writes (timestamps as text, decimals as numbers)."""
    schema = metadata.schema.to_arrow_schema()
    lows: dict[str, Any] = {}
    highs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for index, column in enumerate(schema):
        if pa.types.is_nested(column.type):
            continue
        low: Any = None
        high: Any = None
        null_count = 0
        complete = True
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group).column(index).statistics
            if stats is None:
                complete = False
                break
            null_count += stats.null_count if stats.null_count is not None else 0
            if stats.has_min_max:
                low_now, high_now = _min_max(stats, column.type)
                low = low_now if low is None else min(low, low_now)
                high = high_now if high is None else max(high, high_now)
        if not complete:
            continue
        nulls[column.name] = null_count
        if low is not None and high is not None:
            low_json, high_json = _json_value(low, column.type), _json_value(high, column.type)
            if low_json is not None and high_json is not None:
                lows[column.name] = low_json
                highs[column.name] = high_json
    return {
        "numRecords": metadata.num_rows,
        "minValues": lows,
        "maxValues": highs,
        "nullCount": nulls,
    }


_UNIT_MICROS = {"milliseconds": 1_000, "microseconds": 1, "nanoseconds": None}
_EPOCH = datetime(1970, 1, 1)


def _min_max(stats: pq.Statistics, type_: pa.DataType) -> tuple[Any, Any]:
    """A row group's min and max as Python values. Timestamps are taken from the stored
    integers: pyarrow's own conversion of a zoned (or nanosecond) timestamp asks whether pandas
    is installed, which imports it (0.2 s of every ingest; decision 0011, sixth round)."""
    if not pa.types.is_timestamp(type_):
        return stats.min, stats.max
    unit = json.loads(stats.logical_type.to_json()).get("timeUnit")
    micros = _UNIT_MICROS.get(unit)
    if micros is None:  # nanoseconds (none of the lake's writers) or no logical type
        return stats.min, stats.max
    zone = UTC if type_.tz is not None else None
    low, high = (
        (_EPOCH + timedelta(microseconds=raw * micros)).replace(tzinfo=zone)
        for raw in (stats.min_raw, stats.max_raw)
    )
    return low, high


def _json_value(value: Any, type_: pa.DataType) -> Any:
    if isinstance(value, int):  # bool included
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        if pa.types.is_timestamp(type_) and type_.tz is not None:
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value if len(value) <= _MAX_STAT_TEXT else None
    return None
