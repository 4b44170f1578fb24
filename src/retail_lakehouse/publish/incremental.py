"""An incremental publish: the tables whose Delta version moved, brought in step inside the
publish's one transaction, with the lake's side of the next tables prepared on a second thread.

Each changed table is two pieces of work in two engines:

- **the lake's side** (DuckDB and the Delta log, in this process): for the fact, each batch's
  fingerprint; for a dimension or mart, the rows that differ between the published snapshot
  (its Delta version in the target's state) and the current one, found in one pass (a join on
  the primary key) over only the data files the two do not share (listed by the log's commits
  in between) and kept in a DuckDB table;
- **PostgreSQL's side** (in its backend process): delete the rows or batches gone, ``COPY`` the
  new ones, check the new fact rows' foreign keys.

Done one after the other, each engine waits for the other. So other threads (:data:`WORKERS`)
prepare the lake's side of the next tables (at most :data:`AHEAD` of them, so at most that many
differences are held at once) while this thread applies the current one to PostgreSQL, in table
order, on the publish's one connection (decision 0014, fourth and fifth addenda, have the
measurements). Each preparation first opens the table's pinned snapshot (a table left unchanged
is never opened). DuckDB and psycopg release the GIL while they work; each worker has its own
DuckDB cursor on the same in-memory database, so the differences it writes are tables this thread
can read. A failure on either side stops both: the workers' queries are interrupted, the
transaction rolls back, nothing was published.

A changed row whose primary key stays is updated in place (:data:`UPDATE_IN_PLACE`); only keys
that vanish are deleted and only new keys inserted.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from retail_lakehouse.lake import Lake, faults
from retail_lakehouse.lake.contracts import TableContract
from retail_lakehouse.lake.location import add_actions, data_files
from retail_lakehouse.lake.query import LakeSQL, duckdb_type, quoted_identifier
from retail_lakehouse.publish.report import PublishReport, TableResult
from retail_lakehouse.publish.stream import (
    Encoded,
    copy_encoded,
    copy_query,
    encode_query,
    encode_rows,
    read_rows,
)
from retail_lakehouse.publish.target import PublishFailed

AHEAD = 4
"""Tables whose lake side the second thread may prepare ahead of the one being applied. With 2
the worker reached ``mart_product_performance`` (its largest diff) too late and this thread
waited 13-39 ms for it; each table prepared ahead holds at most ENCODE_AHEAD_ROWS rows."""

WORKERS = 2
"""Threads preparing the lake's side, each with its own DuckDB cursor (one DuckDB thread each).
The lake's side is the longer of the two (an append's diffs read ~200k rows of old and new
snapshots against ~0.15 s of PostgreSQL work), so two threads keep PostgreSQL fed: append
0.325 s against 0.365 s with one (medians of 6 interleaved pairs, load ~3.7; decision 0014,
fifth addendum). Results are still applied in table order."""

PIPELINE = True
"""Prepare the lake's side on a second thread (True) or in line before each table (False): a
switch for side-by-side measurements and the test that both publish the same rows."""

ENCODE_AHEAD_ROWS = 100_000
"""The second thread also reads and encodes the rows to send (for ``COPY``) when there are at
most this many, so this thread only sends bytes; more are streamed here as before (memory holds
at most AHEAD tables' encoded rows, ~150 bytes a fact row: ~15 MB each)."""

UPDATE_IN_PLACE = True
"""Rows whose primary key stays (a changed attribute, a new revenue rank, a moved as-of date) are
``UPDATE``d in place rather than deleted and inserted again: with the free space
:data:`~retail_lakehouse.publish.ddl.DIFF_FILLFACTOR` leaves on each page, PostgreSQL writes
them as heap-only tuples, no index entry added (decision 0014, fifth addendum). False: every
changed row deleted and re-inserted (a switch for the equality test and measurements)."""

IN_PLACE_MIN_ROWS = 500
"""Fewer changed rows than this are deleted and inserted again even with
:data:`UPDATE_IN_PLACE`: an update in place costs a temporary table (created, then dropped at
commit: 2-5 ms), more than the index entries of a few hundred rows."""

THREADS = 1
"""DuckDB threads of an incremental publish (a full one keeps DuckDB's default)."""

DIFF_SCHEMA = "_retail_publish"
"""DuckDB schema (in the publish's in-memory database) of the published snapshots' views and the
differences: visible to both threads' connections, gone with the connection."""


@dataclass(frozen=True)
class Change:
    """One table to bring in step: its contract, its current Delta version, its published state
    (the target's ``_retail_publish`` row)."""

    table: TableContract
    version: int
    state: dict[str, Any]


@dataclass
class Prepared:
    """The lake's side of one change, ready for PostgreSQL."""

    fingerprints: dict[str, str] | None = None  # the fact: per batch, now
    changed: list[int] = field(default_factory=list)  # batches to (re)send
    stale: list[int] = field(default_factory=list)  # batches to delete
    diff: str | None = None  # a dimension or mart: DuckDB table of the rows that differ
    gone: int = 0  # rows of the published snapshot no longer in the lake
    new: int = 0  # rows of the lake not in the published snapshot
    keys_kept: bool = False  # every key of a row gone has a new row: no key disappears
    updated: int = 0  # rows new whose key was published: updated in place (UPDATE_IN_PLACE)
    gone_keys: list[str] | None = None  # keys of the rows to delete: one array literal a column
    new_rows: Encoded | None = None  # rows to insert (or the fact's changed batches), encoded
    update_rows: Encoded | None = None  # rows to update in place, encoded ahead
    new_references: list[str] | None = None  # the fact: distinct keys of new_rows per reference
    in_place: bool = False  # rows whose key stays are updated, not deleted and inserted
    seconds: float = 0.0

    @property
    def to_delete(self) -> int:
        """Rows of the published snapshot to delete: those gone, less those updated in place."""
        return self.gone - self.updated if self.in_place else self.gone

    @property
    def to_insert(self) -> int:
        return self.new - self.updated if self.in_place else self.new

    @property
    def delete_where(self) -> str:
        return _VANISHED if self.in_place else _OLD

    @property
    def insert_where(self) -> str:
        return _INSERTED if self.in_place else _NEW


# the rows of a difference (``_lake_diff``): old or new side; ``_retail_both`` when the row's
# primary key is on both sides (a row changed, not a key come or gone)
_OLD = "WHERE _retail_side = 0"
_NEW = "WHERE _retail_side = 1"
_VANISHED = "WHERE _retail_side = 0 AND NOT _retail_both"
_INSERTED = "WHERE _retail_side = 1 AND NOT _retail_both"
_UPDATED = "WHERE _retail_side = 1 AND _retail_both"


def batch_fingerprints(
    con: duckdb.DuckDBPyConnection, source: str, snapshot: Any | None = None
) -> dict[str, str]:
    """Per batch, ``rows:first_run:last_run``: a batch is rewritten by a gold run exactly when
    its rows change, and every row carries the run that wrote it.

    Read from the Delta log's file statistics of ``snapshot`` (the pinned ``DeltaTable``) when
    they give the exact answer (see :func:`_fingerprints_from_log`), otherwise counted by DuckDB
    over every row of ``source``: the same values either way."""
    if snapshot is not None:
        found = _fingerprints_from_log(snapshot)
        if found is not None:
            return found
    rows = con.execute(
        f"SELECT CAST(_batch_seq AS VARCHAR) AS seq, count(*) || ':' || "
        f"coalesce(min(_run_id), '') || ':' || coalesce(max(_run_id), '') AS fp "
        f"FROM {source} GROUP BY 1"
    ).to_arrow_table()
    return dict(zip(rows.column("seq").to_pylist(), rows.column("fp").to_pylist(), strict=True))


_RUN_ID_LENGTH = 24
"""Characters of a run id (``lake.runs.new_run_id``: ``20261123T012400-3f9a1c2b``)."""


def _fingerprints_from_log(snapshot: Any) -> dict[str, str] | None:
    """The batch fingerprints from the add actions' statistics (rows, min and max of
    ``_batch_seq`` and ``_run_id`` per file: no data file is opened), or None unless they are
    exact: every file holds one batch (min = max, no NULL), every ``_run_id`` statistic is a
    whole run id (never truncated), no deletion vectors. Gold writes each batch's rows in files
    of their own, so this holds unless a compaction mixed batches; then DuckDB counts. The fact's
    fingerprints cost a scan of every row otherwise (30 ms of a 1% append's 0.45 s)."""
    import pyarrow.compute as pc

    try:
        actions = add_actions(snapshot)
    except Exception:  # no statistics to read: count instead
        return None
    needed = ["num_records", "min._batch_seq", "max._batch_seq", "null_count._batch_seq"]
    needed += ["min._run_id", "max._run_id"]
    if any(name not in actions.column_names for name in needed):
        return None
    if any("deletion" in name.lower() for name in actions.column_names):
        return None
    if actions.num_rows == 0:
        return {}
    low, high = actions["min._batch_seq"], actions["max._batch_seq"]
    runs = pc.drop_null(
        pa.chunked_array(actions["min._run_id"].chunks + actions["max._run_id"].chunks)
    )
    # (no Python scalars in the compute calls: converting one makes pyarrow import pandas)
    lengths = pc.min_max(pc.utf8_length(runs)).as_py() if len(runs) else {}
    exact = (
        low.null_count == 0
        and actions["num_records"].null_count == 0
        and pc.all(pc.equal(low, high)).as_py()
        and pc.max(actions["null_count._batch_seq"]).as_py() == 0
        # a whole run id is 24 characters (``lake.runs.new_run_id``); delta-rs cuts string
        # statistics at 64 (deltalake 1.6), so a 24-character one is the value, never a prefix
        and all(v == _RUN_ID_LENGTH for v in lengths.values())
    )
    if not exact:
        return None
    # one entry per file (a batch's files are few): summed per batch here, no table built
    totals: dict[str, list[Any]] = {}
    for seq, rows, first, last in zip(
        low.to_pylist(),
        actions["num_records"].to_pylist(),
        actions["min._run_id"].to_pylist(),
        actions["max._run_id"].to_pylist(),
        strict=True,
    ):
        found = totals.setdefault(str(seq), [0, None, None])
        found[0] += rows
        if first is not None and (found[1] is None or first < found[1]):
            found[1] = first
        if last is not None and (found[2] is None or last > found[2]):
            found[2] = last
    return {seq: f"{n}:{first or ''}:{last or ''}" for seq, (n, first, last) in totals.items()}


# -- the whole incremental publish ---------------------------------------------------------------
def sync(
    cur: Any,
    lake: Lake,
    lake_sql: LakeSQL,
    schema: str,
    changes: list[Change],
    report: PublishReport,
) -> None:
    """Bring every changed table in step, in order (one ``sync <table>`` step each)."""
    lake_sql.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{DIFF_SCHEMA}"')
    # one DuckDB thread per connection (this thread's and the worker's): an append's queries
    # are small, and DuckDB's own parallelism cost more CPU than it saved on a shared 2-core
    # machine, where PostgreSQL needs a core too (client CPU of an append 0.31-0.35 s against
    # 0.37-0.44 s with the default, decision 0014, fourth addendum)
    lake_sql.con.execute(f"SET threads = {THREADS}")
    apply = _Applier(cur, lake_sql, schema)
    if not PIPELINE:
        for change in changes:
            prepared = prepare(lake_sql, lake_sql.con, change)
            report.background[f"prepare {change.table.name}"] = prepared.seconds
            report.tables[change.table.name] = apply(change, prepared)
            report.step(f"sync {change.table.name}")
        return
    idle: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
    cursors = [lake_sql.con.cursor() for _ in range(WORKERS)]
    for cursor in cursors:
        idle.put(cursor)
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="retail-publish-lake")
    pending: deque[Future[Prepared]] = deque()
    waiting = iter(changes)

    def submit() -> None:
        change = next(waiting, None)
        if change is not None:
            pending.append(pool.submit(_prepare_unless_stopped, lake_sql, idle, change, stop))

    try:
        for _ in range(AHEAD):
            submit()
        for change in changes:
            prepared = pending.popleft().result()
            submit()
            report.background[f"prepare {change.table.name}"] = prepared.seconds
            report.tables[change.table.name] = apply(change, prepared)
            report.step(f"sync {change.table.name}")
    except BaseException:
        stop.set()
        for cursor in cursors:
            cursor.interrupt()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for cursor in cursors:
            cursor.close()


def _prepare_unless_stopped(
    lake_sql: LakeSQL,
    idle: queue.SimpleQueue[duckdb.DuckDBPyConnection],
    change: Change,
    stop: threading.Event,
) -> Prepared:
    if stop.is_set():
        raise RuntimeError("publish stopped")
    con = idle.get()  # this thread's DuckDB cursor while it prepares this change
    try:
        return prepare(lake_sql, con, change)
    finally:
        idle.put(con)


# -- the lake's side -----------------------------------------------------------------------------
def prepare(lake_sql: LakeSQL, con: duckdb.DuckDBPyConnection, change: Change) -> Prepared:
    """The lake's side of one change, on connection ``con`` (a lake-side thread's cursor): its
    pinned snapshot opened first (tables left unchanged are never opened), its view made when
    the whole snapshot is read."""
    from retail_lakehouse.publish import ddl

    lake = lake_sql.lake
    started = time.perf_counter()
    t = change.table

    def pinned() -> Any:
        snapshot = lake.delta(t.qualified, change.version)
        if snapshot is None:
            raise PublishFailed(f"{t.qualified} version {change.version} is gone from the lake")
        return snapshot

    if ddl.BATCH_COLUMN in t.schema.names:
        snapshot = pinned()
        lake_sql.register(t.qualified, snapshot=snapshot, con=con)
        fingerprints = batch_fingerprints(con, t.qualified, snapshot)
        published: dict[str, str] = change.state["batches"] or {}
        changed = sorted(int(s) for s, fp in fingerprints.items() if published.get(s) != fp)
        prepared = Prepared(
            fingerprints=fingerprints,
            changed=changed,
            stale=sorted(int(s) for s in published if fingerprints.get(s) != published[s]),
        )
        if changed:
            batches = read_rows(
                con,
                t.schema,
                t.qualified,
                where=_batch_filter(changed),
                rows=sum(int(fingerprints[str(b)].split(":", 1)[0]) for b in changed),
                limit=ENCODE_AHEAD_ROWS,
            )
            if batches is not None:
                prepared.new_rows = encode_rows(t.schema, batches)
                if t.references:  # their distinct keys from the rows in hand: no second read
                    prepared.new_references = [
                        array_literal(
                            pa.chunked_array(
                                [b.column(column) for b in batches],
                                batches[0].schema.field(column).type if batches else pa.null(),
                            ),
                            distinct=True,
                        )
                        for column, _ in t.references
                    ]
    else:
        published_version = int(change.state["delta_version"])
        # the files that changed, from the log's commits in between when it tells exactly:
        # then neither snapshot is opened (each open cost ~1.5 ms of CPU; decision 0014,
        # seventh addendum)
        logged = (
            log_changes(lake.path(t.qualified), published_version, change.version)
            if t.primary_key
            else None
        )
        current = pinned() if logged is None else None
        sides = _previous_snapshot(lake, con, t, published_version, current, logged)
        if sides is None or t.qualified in sides:
            # the whole current snapshot is read: by the comparison in PostgreSQL (no old
            # snapshot), by a diff of whole snapshots (no primary key); a diff of the files
            # that changed reads only its own views
            lake_sql.register(t.qualified, snapshot=current or pinned(), con=con)
        prepared = _lake_diff(con, t, *sides) if sides is not None else Prepared()
        if prepared.diff is not None:
            prepared.in_place = updates_in_place(t) and prepared.updated >= IN_PLACE_MIN_ROWS
            if t.primary_key and 0 < prepared.to_delete <= ENCODE_AHEAD_ROWS:
                prepared.gone_keys = _key_arrays(con, t, prepared.diff, prepared.delete_where)
            prepared.new_rows = encode_query(
                con,
                t.schema,
                prepared.diff,
                where=prepared.insert_where,
                rows=prepared.to_insert,
                limit=ENCODE_AHEAD_ROWS,
            )
            if prepared.in_place and prepared.updated:
                prepared.update_rows = encode_query(
                    con,
                    t.schema,
                    prepared.diff,
                    where=_UPDATED,
                    rows=prepared.updated,
                    limit=ENCODE_AHEAD_ROWS,
                )
    prepared.seconds = round(time.perf_counter() - started, 4)
    faults.point("publish.prepared")  # a kill here: both threads mid-publish, nothing committed
    return prepared


def log_changes(table: Path, published: int, current: int) -> tuple[list[str], list[str]] | None:
    """The data files removed and added by the commits after version ``published`` up to
    ``current``, read from the log's JSON commits (a few small files), as paths a reader opens;
    None unless the log tells exactly: every commit file still there, no metadata or protocol
    change (a schema or column mapping change), no deletion vector, no path added or removed
    twice. A file added and removed in between is in neither snapshot: in neither list."""
    import json
    from urllib.parse import unquote

    if current <= published:
        return None
    removed: dict[str, None] = {}
    added: dict[str, None] = {}
    for version in range(published + 1, current + 1):
        try:
            lines = (table / "_delta_log" / f"{version:020d}.json").read_bytes().splitlines()
        except OSError:
            return None
        for line in lines:
            if not line.strip():
                continue
            action = json.loads(line)
            if "metaData" in action or "protocol" in action:
                return None
            for kind, other, seen in (("add", removed, added), ("remove", added, removed)):
                if kind not in action:
                    continue
                entry = action[kind]
                path = entry["path"]
                if entry.get("deletionVector") or path in seen:
                    return None
                if path in other:
                    if kind == "add":  # removed, then added again under its name
                        return None
                    del other[path]  # added in between, removed again
                else:
                    seen[path] = None

    def located(path: str) -> str:
        return path if "://" in path else str(table / unquote(path))

    return [located(p) for p in removed], [located(p) for p in added]


def _previous_snapshot(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    t: TableContract,
    version: int,
    current: Any,
    logged: tuple[list[str], list[str]] | None = None,
) -> tuple[str | None, str | None] | None:
    """The two sides to diff: DuckDB views of the rows as last published (the table at its
    Delta version in the target's state) and of the rows now (the pinned snapshot
    ``current``), or None when the published snapshot can no longer be read (vacuumed files,
    expired log). A side is None when it holds no rows.

    For a table with a primary key each side reads only the data files the other snapshot
    does not share: a file in both snapshots holds the same rows in both, and since a key is
    unique within each snapshot, none of its keys can be in the other files of either; those
    rows would pair with themselves and drop out of the diff. So the diff reads only what
    changed, whatever the files' layout (a compaction reads more, never gives another
    answer): an append-only commit (``dim_invoice``, one new file) leaves no old side, its
    rows are all new, nothing is joined (decision 0014, seventh addendum). A table without a
    primary key compares whole snapshots (its rows are its keys, duplicates included).

    ``logged``: the files removed and added, from :func:`log_changes` (then neither snapshot
    is opened, ``current`` is None); otherwise both snapshots' file lists are compared."""
    from retail_lakehouse.lake.query import snapshot_relation_sql

    columns = ", ".join(quoted_identifier(c) for c in t.schema.names)
    try:
        new: list[str] | None = None  # the whole current snapshot: its registered view
        if logged is not None:
            old, new = logged
        else:
            table = lake.delta(t.qualified, version)
            old = data_files(table) if table is not None else []
            if not old:
                return None
        if t.primary_key and logged is None:
            new = data_files(current)
            shared = set(old) & set(new)
            old = [f for f in old if f not in shared]
            new = [f for f in new if f not in shared]
        sides: list[str | None] = []
        for side, files in (("published", old), ("current", new)):
            if files is None:
                sides.append(t.qualified)
            elif not files:
                sides.append(None)
            else:
                name = f'"{DIFF_SCHEMA}"."{side}_{t.name}"'
                relation = snapshot_relation_sql(files)
                con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {columns} FROM {relation}")
                sides.append(name)
        # (a view over read_parquet(..., union_by_name) reads every file's schema when it is
        # made: a vacuumed or damaged file fails here, no query needed to find out)
    except Exception:  # any failure to read the old snapshot: compare in PostgreSQL instead
        return None
    return sides[0], sides[1]


def _lake_diff(
    con: duckdb.DuckDBPyConnection, t: TableContract, previous: str | None, current: str | None
) -> Prepared:
    """Rows that differ between the published snapshot and the current one, found by DuckDB in
    the lake: only they travel. The target holds exactly the published snapshot (its state says
    so, in the same transaction as the data), so deleting the keys of the rows gone and inserting
    the rows new brings it to the current one.

    One pass finds both sides, reading each snapshot once (two ``EXCEPT`` queries read each
    twice): the snapshots joined on the primary key (a full outer join), a pair kept when one
    side is missing or any other column ``IS DISTINCT FROM`` the other's (exact, NULL-safe);
    each kept pair gives its old row (``_retail_side`` 0) and its new row (1). Half the CPU of
    stacking both snapshots and grouping by every column (0.058 s against 0.113 s for an
    append's seven tables, the same rows; decision 0014, sixth addendum), which stays for a
    table without a primary key (the whole row is its key). The difference stays in DuckDB
    (spilled to its temporary folder if large) until PostgreSQL's side streams it.

    ``_retail_both`` marks the rows whose primary key is on both sides (within one snapshot a
    key is unique, so such a key has exactly one old and one new row: a changed row).

    ``previous`` and ``current`` are the two sides (:func:`_previous_snapshot`); a side that is
    None holds no rows, so every row of the other is a difference and no key is on both."""
    names = t.schema.names
    columns = ", ".join(quoted_identifier(c) for c in names)
    diff = f'"{DIFF_SCHEMA}"."diff_{t.name}"'
    if previous is None or current is None:
        side, rows_of = (1, current) if previous is None else (0, previous)
        typed_nulls = ", ".join(
            f"CAST(NULL AS {duckdb_type(f.type)}) AS {quoted_identifier(f.name)}" for f in t.schema
        )
        source = rows_of or f"(SELECT {typed_nulls} WHERE false)"
        con.execute(
            f"CREATE OR REPLACE TABLE {diff} AS SELECT {columns}, {side} AS _retail_side, "
            f"false AS _retail_both FROM {source}"
        )
    elif t.primary_key:
        keys = list(t.primary_key)
        same_key = " AND ".join(
            f"o.{quoted_identifier(k)} = n.{quoted_identifier(k)}" for k in keys
        )
        changed = "".join(
            f" OR o.{quoted_identifier(c)} IS DISTINCT FROM n.{quoted_identifier(c)}"
            for c in names
            if c not in keys
        )
        pairs = ", ".join(
            f"{side}.{quoted_identifier(c)} AS {quoted_identifier(side + c)}"
            for side in "on"
            for c in names
        )

        def rows(side: str) -> str:
            return ", ".join(
                f"{quoted_identifier(side + c)} AS {quoted_identifier(c)}" for c in names
            )

        con.execute(
            f"CREATE OR REPLACE TABLE {diff} AS WITH pairs AS MATERIALIZED ("
            f"SELECT {pairs}, o._s IS NOT NULL AS _old, n._s IS NOT NULL AS _new "
            f"FROM (SELECT {columns}, 0 AS _s FROM {previous}) o FULL JOIN "
            f"(SELECT {columns}, 1 AS _s FROM {current}) n ON {same_key} "
            f"WHERE o._s IS NULL OR n._s IS NULL{changed}) "
            f"SELECT {rows('o')}, 0 AS _retail_side, _new AS _retail_both FROM pairs WHERE _old "
            f"UNION ALL "
            f"SELECT {rows('n')}, 1 AS _retail_side, _old AS _retail_both FROM pairs WHERE _new"
        )
    else:
        con.execute(
            f"CREATE OR REPLACE TABLE {diff} AS "
            f"SELECT {columns}, max(_retail_side) AS _retail_side, false AS _retail_both FROM ("
            f"SELECT {columns}, 0 AS _retail_side FROM {previous} UNION ALL "
            f"SELECT {columns}, 1 AS _retail_side FROM {current}"
            f") GROUP BY ALL HAVING min(_retail_side) = max(_retail_side)"
        )
    found = con.execute(
        f"SELECT count(*) FILTER (WHERE _retail_side = 0), "
        f"count(*) FILTER (WHERE _retail_side = 1), "
        f"count(*) FILTER (WHERE _retail_side = 0 AND NOT _retail_both), "
        f"count(*) FILTER (WHERE _retail_side = 1 AND _retail_both) FROM {diff}"
    ).fetchone()
    gone, new, vanished, both = found if found else (0, 0, 0, 0)
    return Prepared(
        diff=diff, gone=int(gone), new=int(new), keys_kept=not vanished, updated=int(both)
    )


def updates_in_place(t: TableContract) -> bool:
    """Whether a changed row of ``t`` (same primary key) is updated rather than replaced: a
    primary key and at least one other column to set."""
    return UPDATE_IN_PLACE and bool(t.primary_key) and len(t.primary_key) < len(t.schema.names)


# -- PostgreSQL's side ---------------------------------------------------------------------------
class _Applier:
    """Applies prepared changes on the publish's cursor, in this thread."""

    def __init__(self, cur: Any, lake_sql: LakeSQL, schema: str) -> None:
        self.cur, self.lake_sql, self.schema = cur, lake_sql, schema
        self._skip_triggers: bool | None = None

    def may_skip_row_triggers(self) -> bool:
        """Whether this user may set ``session_replication_role`` (asked once per publish)."""
        if self._skip_triggers is None:
            self._skip_triggers = may_skip_row_triggers(self.cur)
        return self._skip_triggers

    def __call__(self, change: Change, prepared: Prepared) -> TableResult:
        from retail_lakehouse.publish import ddl

        if ddl.BATCH_COLUMN in change.table.schema.names:
            return self._batches(change, prepared)
        if prepared.diff is None:
            return sync_by_comparison(
                self.cur, self.lake_sql, self.schema, change.table, change.version
            )
        try:
            return self._diff(change, prepared)
        finally:
            self.lake_sql.con.execute(f"DROP TABLE IF EXISTS {prepared.diff}")

    def _batches(self, change: Change, prepared: Prepared) -> TableResult:
        """Delete and re-send the batches whose fingerprint changed; delete the batches gone."""
        from psycopg import sql

        from retail_lakehouse.publish import ddl

        cur, t = self.cur, change.table
        table = ddl.ident(self.schema, t.name)
        deleted = written = 0
        if prepared.stale:  # rewritten or gone: new batches have nothing to delete
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                    table, sql.Identifier(ddl.BATCH_COLUMN)
                ),
                [prepared.stale],
            )
            deleted = cur.rowcount
        if prepared.changed:
            bulk_check = bool(t.references) and self.may_skip_row_triggers()
            if bulk_check:
                # no other session may change a dimension between the check below and the
                # commit (the per-row checks would have key-share locked the rows they found)
                cur.execute(
                    sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
                        sql.SQL(", ").join(ddl.referenced_tables(self.schema, t))
                    )
                )
                cur.execute("SET LOCAL session_replication_role = replica")
            written = (
                copy_encoded(cur, table, prepared.new_rows)
                if prepared.new_rows is not None
                else copy_query(
                    cur,
                    table,
                    t.schema,
                    self.lake_sql,
                    t.qualified,
                    where=_batch_filter(prepared.changed),
                )
            )
            if bulk_check:
                cur.execute("SET LOCAL session_replication_role = origin")
                if prepared.new_references is not None:
                    check_new_keys(cur, self.schema, t, prepared.new_references)
                else:
                    check_new_rows(cur, self.schema, t, prepared.changed)
        return TableResult("batches", change.version, written, deleted, prepared.fingerprints)

    def _diff(self, change: Change, prepared: Prepared) -> TableResult:
        """Delete the keys of the rows gone, ``COPY`` the rows new (decision 0014).

        A dimension's ``DELETE`` queues one deferred foreign-key check per row (does a fact row
        still point at this key?), run at commit. When every key deleted comes back in the new
        rows (a changed attribute, not a vanished member: what an append does), every such check
        would pass, so a user allowed to skip triggers deletes without them."""

        from retail_lakehouse.publish import ddl

        cur, t, diff = self.cur, change.table, prepared.diff
        assert diff is not None
        table = ddl.ident(self.schema, t.name)
        deleted = written = 0
        if prepared.to_delete:
            quiet = (
                prepared.keys_kept
                and _is_referenced(t)
                and bool(t.primary_key)
                and self.may_skip_row_triggers()
            )
            if quiet:
                cur.execute("SET LOCAL session_replication_role = replica")
            if prepared.gone_keys is not None:
                deleted = self._delete_listed(t, prepared.gone_keys)
            else:
                deleted = self._delete_staged(t, diff, prepared.delete_where)
            if quiet:
                cur.execute("SET LOCAL session_replication_role = origin")
        if prepared.in_place and prepared.updated:
            written += self._update(t, prepared, diff)
        if prepared.new_rows is not None:
            written += copy_encoded(cur, table, prepared.new_rows)
        elif prepared.to_insert:
            written += copy_query(
                cur, table, t.schema, self.lake_sql, diff, where=prepared.insert_where
            )
        return TableResult("synced", change.version, written, deleted)

    def _update(self, t: TableContract, prepared: Prepared, diff: str) -> int:
        """``UPDATE`` the rows whose primary key stays, from a temporary table they are copied
        into: a row whose indexed columns did not change is rewritten on its own page without
        a new index entry (a heap-only tuple), where a delete and insert adds one to every index
        of the table (decision 0014, fifth addendum). No foreign-key check is queued: a key
        that does not change cannot orphan a fact row."""
        from psycopg import sql

        from retail_lakehouse.publish import ddl

        table = ddl.ident(self.schema, t.name)
        stage = sql.Identifier(f"_retail_update_{t.name}")
        self.cur.execute(
            sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(stage, table)
        )
        if prepared.update_rows is not None:
            copy_encoded(self.cur, stage, prepared.update_rows)
        else:
            copy_query(self.cur, stage, t.schema, self.lake_sql, diff, where=_UPDATED)
        keys = set(t.primary_key)
        # each staged row finds its row by the primary key's index: the planner, without
        # statistics on the fresh temporary table, hash-joined it to a scan of the whole table
        # (the product mart: 50k rows read for 3.5k updated, 40-77 ms against 9-13 ms;
        # decision 0014, sixth addendum)
        with planner_settings(self.cur, enable_hashjoin="off", enable_mergejoin="off"):
            self.cur.execute(
                sql.SQL("UPDATE {} t SET {} FROM {} s WHERE {}").format(
                    table,
                    sql.SQL(", ").join(
                        sql.SQL("{c} = s.{c}").format(c=sql.Identifier(c))
                        for c in t.schema.names
                        if c not in keys
                    ),
                    stage,
                    sql.SQL(" AND ").join(
                        sql.SQL("t.{c} = s.{c}").format(c=sql.Identifier(c)) for c in t.primary_key
                    ),
                )
            )
            updated = self.cur.rowcount
        if updated != prepared.updated:  # the target is not what its state says
            raise PublishFailed(
                f"{t.name}: {prepared.updated:,} changed rows to update, {updated:,} "
                "found in the target (it no longer holds what it says was published); nothing "
                "was published: run `retail publish --full`"
            )
        return prepared.updated

    def _delete_listed(self, t: TableContract, arrays: list[str]) -> int:
        """``DELETE`` the rows whose primary key is in the arrays (one per key column, bound as
        parameters): one statement, where a staged delete takes three (a temporary table, a
        ``COPY`` into it, the ``DELETE``) and a catalog entry dropped again at commit."""
        from psycopg import sql

        from retail_lakehouse.publish import ddl

        keys = list(t.primary_key)
        types = {f.name: ddl.pg_type(f.type) for f in t.schema}
        self.cur.execute(
            sql.SQL("DELETE FROM {} t USING unnest({}) AS g({}) WHERE {}").format(
                ddl.ident(self.schema, t.name),
                sql.SQL(", ").join(sql.SQL("%s::" + types[k] + "[]") for k in keys),
                sql.SQL(", ").join(map(sql.Identifier, keys)),
                sql.SQL(" AND ").join(
                    sql.SQL("t.{c} = g.{c}").format(c=sql.Identifier(k)) for k in keys
                ),
            ),
            arrays,
        )
        return int(self.cur.rowcount)

    def _delete_staged(self, t: TableContract, diff: str, where: str) -> int:
        """``DELETE`` the rows gone through a temporary table their keys are copied into (a
        table without a primary key, or more keys than :data:`ENCODE_AHEAD_ROWS`)."""
        from psycopg import sql

        from retail_lakehouse.publish import ddl

        table = ddl.ident(self.schema, t.name)
        keys = list(t.primary_key or t.schema.names)
        gone_stage = sql.Identifier(f"_retail_gone_{t.name}")
        self.cur.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                gone_stage, sql.SQL(", ").join(map(sql.Identifier, keys)), table
            )
        )
        copy_query(
            self.cur,
            gone_stage,
            pa.schema([t.schema.field(k) for k in keys]),
            self.lake_sql,
            diff,
            where=where,
        )
        equal = "t.{c} = g.{c}" if t.primary_key else "t.{c} IS NOT DISTINCT FROM g.{c}"
        match = sql.SQL(" AND ").join(sql.SQL(equal).format(c=sql.Identifier(c)) for c in keys)
        self.cur.execute(
            sql.SQL("DELETE FROM {} t USING {} g WHERE {}").format(table, gone_stage, match)
        )
        return int(self.cur.rowcount)


def _key_arrays(
    con: duckdb.DuckDBPyConnection, t: TableContract, diff: str, where: str = _OLD
) -> list[str]:
    """The primary keys of the rows to delete (``where``: the rows gone, or only those whose key
    vanished), as PostgreSQL array literals (:func:`array_literal`), one per key column, in the
    same row order (key columns are NOT NULL)."""
    order = ", ".join(quoted_identifier(k) for k in t.primary_key)
    found = con.execute(f"SELECT {order} FROM {diff} {where} ORDER BY {order}").to_arrow_table()
    return [array_literal(found.column(k)) for k in t.primary_key]


def reference_arrays(
    con: duckdb.DuckDBPyConnection, t: TableContract, source: str, where: str = ""
) -> list[str]:
    """Per foreign key of ``t``, the distinct non-NULL keys of the rows of ``source`` matching
    ``where``, as a PostgreSQL array literal (for :func:`check_new_keys`): listed by DuckDB in
    one query, made distinct before they are quoted (quoting every row first and aggregating
    ``DISTINCT`` strings cost 0.6 s over a whole fact against 0.03 s; decision 0014, sixth
    addendum)."""
    import pyarrow.compute as pc

    lists = ", ".join(f"list(DISTINCT {quoted_identifier(c)})" for c, _ in t.references)
    found = con.execute(f"SELECT {lists} FROM {source} {where}").to_arrow_table()
    return [
        array_literal(pc.list_flatten(found.column(i)), distinct=True)
        for i in range(len(t.references))
    ]


def array_literal(values: pa.Array | pa.ChunkedArray, *, distinct: bool = False) -> str:
    """A column of values as one PostgreSQL array literal, bound as a parameter
    (``%s::type[]``): every element as text, backslashes and quotes escaped, double-quoted, so
    any text stays one element; NULL values dropped; ``distinct``: each value once. Made by
    pyarrow's kernels in C++, no Python per value but the final join (and no Python scalar
    handed to pyarrow, which would import pandas)."""
    import pyarrow.compute as pc

    kept = (pc.unique(values) if distinct else values).drop_null()
    text = kept.cast(pa.string())
    text = pc.replace_substring(text, pattern="\\", replacement="\\\\")
    text = pc.replace_substring(text, pattern='"', replacement='\\"')
    text = pc.replace_substring_regex(text, pattern="(?s)^(.*)$", replacement='"\\1"')
    return "{" + ",".join(text.to_pylist()) + "}"


def _batch_filter(batches: list[int]) -> str:
    """``WHERE`` of the given fact batches: literal integers (ours, never user text), so DuckDB
    skips the Parquet row groups whose statistics exclude them instead of scanning the fact."""
    from retail_lakehouse.publish import ddl

    return f"WHERE {ddl.BATCH_COLUMN} IN ({', '.join(str(int(b)) for b in batches)})"


def _is_referenced(t: TableContract) -> bool:
    """Whether a foreign key of a published table points at ``t`` (a dimension)."""
    from retail_lakehouse.publish import ddl

    return any(ref == t.qualified for c in ddl.published_tables() for _, ref in c.references)


def may_skip_row_triggers(cur: Any) -> bool:
    """Whether this user may set ``session_replication_role`` (a superuser, or PostgreSQL 15+
    ``GRANT SET ON PARAMETER session_replication_role``)."""
    if cur.connection.info.server_version >= 150000:
        cur.execute(
            "SELECT current_setting('is_superuser') = 'on' "
            "OR has_parameter_privilege('session_replication_role', 'SET')"
        )
    else:
        cur.execute("SELECT current_setting('is_superuser') = 'on'")
    found = cur.fetchone()
    return bool(found and found[0])


def check_new_rows(cur: Any, schema: str, t: TableContract, batches: list[int]) -> None:
    """The foreign keys of the fact rows just loaded without their per-row triggers, checked
    in one pass: a missing dimension row fails the publish (and rolls it back) as the
    deferred per-row checks would have at commit. The constraints stay validated: every
    committed fact row has been checked, by PostgreSQL's validation or by this query."""
    from retail_lakehouse.publish import ddl

    # right after a full publish the fact has no statistics yet and the planner would scan it
    # whole; the new batches are a few BRIN ranges of ``_batch_seq``
    with planner_settings(cur, enable_seqscan="off"):
        cur.execute(ddl.orphan_counts(schema, t, batches))
        counts = cur.fetchone()
    _refuse_missing(t, counts, "row")


@contextmanager
def planner_settings(cur: Any, **settings: str) -> Iterator[None]:
    """Planner settings for the statements inside, then back to what they were (``SET LOCAL``
    would hold them to the end of the publish's transaction): for a statement whose best plan
    the planner cannot see, on tables created or filled in this transaction without
    statistics."""
    from psycopg import sql

    names = list(settings)
    cur.execute(
        sql.SQL("SELECT {} FROM (SELECT {} OFFSET 0) p").format(
            sql.SQL(", ").join(
                sql.SQL("p.{}, set_config({}, {}, true)").format(
                    sql.Identifier(f"p{i}"), sql.Literal(name), sql.Literal(settings[name])
                )
                for i, name in enumerate(names)
            ),
            sql.SQL(", ").join(
                sql.SQL("current_setting({}) AS {}").format(
                    sql.Literal(name), sql.Identifier(f"p{i}")
                )
                for i, name in enumerate(names)
            ),
        )
    )
    found = cur.fetchone()
    previous = [found[2 * i] for i in range(len(names))]
    try:
        yield
    finally:
        cur.execute(
            sql.SQL("SELECT {}").format(
                sql.SQL(", ").join(
                    sql.SQL("set_config({}, {}, true)").format(
                        sql.Literal(name), sql.Literal(value)
                    )
                    for name, value in zip(names, previous, strict=True)
                )
            )
        )


def check_new_keys(cur: Any, schema: str, t: TableContract, keys: list[str]) -> None:
    """:func:`check_new_rows` for rows encoded ahead: their distinct keys per foreign key
    (computed by DuckDB from the very rows sent) looked up in the dimensions, one index probe
    each, instead of reading the new rows back and joining each to six dimensions (an append's
    5,314 fact rows hold a few hundred distinct keys)."""
    from retail_lakehouse.publish import ddl

    cur.execute(ddl.missing_keys(schema, t), keys)
    _refuse_missing(t, cur.fetchone(), "key")


def _refuse_missing(t: TableContract, counts: Any, what: str) -> None:
    missing = [
        f"{count} {column} not in {referenced.split('.')[-1]}"
        for (column, referenced), count in zip(t.references, counts or (), strict=True)
        if count
    ]
    if missing:
        raise PublishFailed(
            f"{t.name}: new rows reference missing dimension rows ({'; '.join(missing)}"
            f"{'' if what == 'row' else ', distinct keys'}); nothing was published"
        )


def sync_by_comparison(
    cur: Any, lake_sql: LakeSQL, schema: str, t: TableContract, version: int
) -> TableResult:
    """The fallback when the published snapshot is unreadable: send the whole table to a
    temporary table and let PostgreSQL delete and insert only the rows that differ."""
    from psycopg import sql

    from retail_lakehouse.publish import ddl

    table = ddl.ident(schema, t.name)
    stage = sql.Identifier(f"_retail_stage_{t.name}")
    cur.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(stage, table))
    copy_query(cur, stage, t.schema, lake_sql, t.qualified)
    keys = t.primary_key or tuple(t.schema.names)
    # primary-key columns are NOT NULL: plain equality, which PostgreSQL can hash-join
    equal = "t.{c} = gone.{c}" if t.primary_key else "t.{c} IS NOT DISTINCT FROM gone.{c}"
    match = sql.SQL(" AND ").join(sql.SQL(equal).format(c=sql.Identifier(c)) for c in keys)
    cur.execute(
        sql.SQL(
            "DELETE FROM {table} t USING "
            "(SELECT * FROM {table} EXCEPT SELECT * FROM {stage}) gone WHERE {match}"
        ).format(table=table, stage=stage, match=match)
    )
    deleted = cur.rowcount
    cur.execute(
        sql.SQL("INSERT INTO {table} SELECT * FROM {stage} EXCEPT SELECT * FROM {table}").format(
            table=table, stage=stage
        )
    )
    written = cur.rowcount
    return TableResult("synced", version, written, deleted)
