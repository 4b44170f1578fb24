"""``retail publish``: gold into PostgreSQL, incrementally, in one transaction.

The one publish path: the CLI (``retail publish``, and ``retail run`` with ``[publish]
after_run``) and the watcher (``retail watch``, the same setting) call :func:`publish`.

How a publish runs, and why:

1. Connect first (a wrong DSN, password or unreachable server is refused before the lake is
   touched), then take the lake's writer lock and pin every gold table's Delta version, so the
   publish reads one consistent gold state even if a run is waiting to commit.
2. One PostgreSQL transaction, serialised per schema by an advisory lock. It reads the target's
   ``_retail_publish`` table (which lake, which Delta versions, which fact batches it holds) and
   refuses a schema that holds another lake's publish or tables it did not create.
3. **Full** (first publish, ``--full``, a changed table shape, ``--take-over``): tables are
   created (or truncated) without keys, loaded with ``COPY``, then primary keys, indexes and
   deferred foreign keys are built in bulk, comments and views (re)created. A user allowed to
   skip row triggers loads the dimensions and keys them first, adds the fact's foreign keys
   while it is still empty, loads it without its per-row triggers and checks its distinct keys
   once (PostgreSQL would validate each foreign key by scanning the whole fact).
   **Incremental**: only tables whose Delta version moved are touched. The fact replaces only
   the batches whose fingerprint (rows and writing run per ``_batch_seq``) changed: ``DELETE``
   those batches, ``COPY`` them again. For a dimension or mart, DuckDB compares the published
   snapshot (its Delta version in the target's state) with the current one and only the rows
   that differ travel: the keys of rows gone are deleted, the new rows inserted. If the old
   snapshot was vacuumed, the whole table goes to a temporary table and PostgreSQL finds the
   differing rows itself. An unchanged row is never rewritten. Nothing moved: nothing written.
   The lake's side of each changed table (diffs, fingerprints, rows encoded for ``COPY``) is
   prepared on a second thread while PostgreSQL applies the previous one
   (:mod:`retail_lakehouse.publish.incremental`).
4. The new state goes into ``_retail_publish`` in the same transaction, so PostgreSQL holds
   exactly what its state says, whatever instant the process dies at; a reader sees the state
   before or after, never half. After the commit the lake records the publish in
   ``meta.publish_state`` (one Delta commit). If the process dies between the two, the target
   is right and the next publish trusts the target's state. The lake's record is a recorded
   run (command ``publish`` in ``meta.runs``, its commits tagged): ``retail history`` lists it;
   ``retail rollback`` leaves ``meta.publish_state`` as it is (it describes PostgreSQL, which a
   rollback does not change), and the next publish brings PostgreSQL to the rolled-back gold.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts import TableContract
from retail_lakehouse.lake.contracts.meta import META_PUBLISH_STATE
from retail_lakehouse.lake.fingerprint import latest_version
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.lake.runs import RunContext, new_run_id
from retail_lakehouse.publish import incremental
from retail_lakehouse.publish.report import PublishReport, TableResult
from retail_lakehouse.publish.target import PublishFailed, PublishRefused, Target

if TYPE_CHECKING:
    from retail_lakehouse.observe.command import CommandObserver

STATE_TABLE = "_retail_publish"
LAKE_ID_TABLES = ("bronze.sales_lines", "silver.sales_lines", "gold.fact_sales")


def point(name: str) -> None:
    """A fault-injection boundary of the publish (``RETAIL_FAULT=<point>:kill``), outside the
    lake's Delta commits: the same registry, free when unset (``lake/faults.py``)."""
    from retail_lakehouse.lake import faults

    faults.point(name)


# -- the lake side -------------------------------------------------------------------------------
def lake_identity(lake: Lake) -> str:
    """The lake's identity: the Delta table id of its first table (a UUID made when the lake's
    first table was created; moving or copying the folder keeps it, a new lake gets another).

    Read from the table's first commit (its ``metaData`` action; the id never changes) without
    opening the table, or from the opened table when that commit was cleaned up."""
    for name in LAKE_ID_TABLES:
        first = lake.path(name) / "_delta_log" / f"{0:020d}.json"
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError), first.open("rb") as log:
            for line in log:
                action = json.loads(line)
                if "metaData" in action:
                    return str(action["metaData"]["id"])
        table = lake.delta(name)
        if table is not None:
            return str(table.metadata().id)
    raise PublishRefused(f"{lake.root} holds no lake yet: run `retail ingest` and `retail run`")


# -- the target side -----------------------------------------------------------------------------
@dataclass
class _TargetState:
    schema_exists: bool
    relations: dict[str, str]  # name -> relkind
    not_owned: list[str]
    shapes: dict[str, list[tuple[str, str]]]
    state: dict[str, dict[str, Any]]  # table -> _retail_publish row


def _connect(target: Target) -> Any:
    import psycopg

    extra: dict[str, Any] = {"application_name": "retail publish", "autocommit": False}
    if "connect_timeout" not in target.parts():
        extra["connect_timeout"] = 10
    try:
        return psycopg.connect(target.dsn, **extra)
    except psycopg.Error as error:
        reason = target.redact(error).strip().replace("\n", " ")
        raise PublishRefused(f"cannot connect to {target.display()}: {reason}") from None


def _inspect(cur: Any, schema: str, names: list[str]) -> _TargetState:
    cur.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [schema])
    found = cur.fetchone()
    if found is None:
        return _TargetState(False, {}, [], {}, {})
    cur.execute(
        "SELECT c.relname, c.relkind, pg_has_role(c.relowner, 'USAGE') "
        "FROM pg_class c WHERE c.relnamespace = %s AND c.relkind IN ('r','p','v','m','f')",
        [found[0]],
    )
    relations: dict[str, str] = {}
    not_owned: list[str] = []
    for name, kind, owned in cur.fetchall():
        relations[name] = kind
        if not owned and (name in names or name == STATE_TABLE):
            not_owned.append(name)
    shapes: dict[str, list[tuple[str, str]]] = {}
    cur.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE c.relnamespace = %s AND c.relname = ANY(%s) AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
        [found[0], names],
    )
    for table, column, type_ in cur.fetchall():
        shapes.setdefault(table, []).append((column, type_))
    state: dict[str, dict[str, Any]] = {}
    if relations.get(STATE_TABLE) == "r":
        cur.execute(
            "SELECT table_name, lake_id, lake, delta_version, batches, shape "
            f'FROM "{schema}".{STATE_TABLE}'
        )
        for row in cur.fetchall():
            state[row[0]] = dict(
                zip(("lake_id", "lake", "delta_version", "batches", "shape"), row[1:], strict=True)
            )
    return _TargetState(True, relations, not_owned, shapes, state)


def _check_privileges(cur: Any, target: Target, found: _TargetState) -> None:
    cur.execute("SELECT current_user, current_database()")
    user, database = cur.fetchone()
    if not found.schema_exists:
        cur.execute("SELECT has_database_privilege(current_database(), 'CREATE')")
        if not cur.fetchone()[0]:
            raise PublishRefused(
                f"user {user} may not create schema {target.schema} in database {database} at "
                f"{target.display()}: GRANT CREATE ON DATABASE {database} TO {user}, or create "
                "the schema and let the user own it"
            )
        return
    cur.execute("SELECT has_schema_privilege(%s, 'CREATE')", [target.schema])
    if not cur.fetchone()[0]:
        raise PublishRefused(
            f"user {user} may not create tables in schema {target.schema} at "
            f"{target.display()}: GRANT CREATE ON SCHEMA {target.schema} TO {user}"
        )
    if found.not_owned:
        raise PublishRefused(
            f"user {user} does not own {', '.join(sorted(found.not_owned))} in schema "
            f"{target.schema} at {target.display()}: publish as their owner"
        )


def _refuse_conflicts(
    target: Target, found: _TargetState, tables: list[TableContract], lake_id: str, lake: Lake
) -> None:
    """Refuse a schema holding another lake's publish, or tables retail did not create."""
    from retail_lakehouse.publish import ddl

    if found.state:
        owners = {(row["lake_id"], row["lake"]) for row in found.state.values()}
        others = sorted(o for o in owners if o[0] != lake_id)
        if others:
            other_id, other_root = others[0]
            raise PublishRefused(
                f"schema {target.schema} at {target.display()} holds the publish of another "
                f"lake: {other_root} (id {other_id}); this lake is {lake.root} (id {lake_id}). "
                "Publish to another --schema, or pass --take-over to replace it"
            )
        return
    ours = {t.name for t in tables} | set(ddl.VIEWS) | {STATE_TABLE}
    clashes = sorted(ours & set(found.relations))
    if not clashes:
        return
    details = []
    by_name = {t.name: t for t in tables}
    for name in clashes:
        contract = by_name.get(name)
        if contract is not None and found.shapes.get(name) != ddl.shape(contract):
            theirs = ", ".join(f"{c} {t}" for c, t in found.shapes.get(name, [])[:6])
            details.append(f"{name} ({theirs}{', ...' if len(found.shapes[name]) > 6 else ''})")
        else:
            details.append(name)
    raise PublishRefused(
        f"schema {target.schema} at {target.display()} already has {'; '.join(details)}, not "
        f"created by retail publish (no {STATE_TABLE} table): it would be overwritten. Publish "
        "to another --schema, or drop those tables"
    )


# -- the publish ---------------------------------------------------------------------------------
def publish(
    lake: Lake,
    target: Target,
    *,
    full: bool = False,
    take_over: bool = False,
    lock: bool = True,
) -> PublishReport:
    """Bring ``target`` in step with the lake's gold; see the module docstring."""
    import psycopg

    from retail_lakehouse.publish import ddl

    started = time.perf_counter()
    started_at = datetime.now(UTC)
    tables = ddl.published_tables()
    lake_id = lake_identity(lake)
    report = PublishReport(new_run_id(started_at), target.display(), target.schema, lake_id)
    # DuckDB's in-memory database (7-9 ms of CPU) is made on another thread while PostgreSQL
    # authenticates the connection (the server's work): it reads nothing from the lake, so a
    # refused connection still leaves the lake untouched (decision 0014, seventh addendum)
    pool = ThreadPoolExecutor(1, thread_name_prefix="retail-publish-duckdb")
    opening = pool.submit(LakeSQL, lake, tables=[])
    pool.shutdown(wait=False)  # its one thread ends with this task
    try:
        conn = _connect(target)
    except BaseException:
        with contextlib.suppress(Exception):
            opening.result().close()
        raise
    report.step("connect")
    observer = _observe(lake, report)
    try:
        guard = lake.writer_lock("publish") if lock else contextlib.nullcontext()
        with guard:
            lake_sql = opening.result()
            try:
                lake_sql.con.execute("CREATE SCHEMA IF NOT EXISTS gold")
                # each table's version from its log's listing, pinned (the writer lock is
                # held, no commit can land); a table is opened and its view made only when
                # read: by a full publish, or for a change. Opening all eleven cost 25-45 ms
                # of an append's ~0.3 s (decision 0014, fifth addendum).
                versions = {t.qualified: latest_version(lake.path(t.qualified)) for t in tables}
                missing = [name for name, v in versions.items() if v is None]
                if missing:
                    raise PublishRefused(
                        f"the lake at {lake.root} has no gold tables yet ({', '.join(missing)}): "
                        "run `retail run` first"
                    )
                report.step("pin_snapshots")
                _run(conn, lake, lake_sql, target, tables, versions, report, full, take_over)
            except BaseException:
                lake_sql.close()
                raise
            # committed: DuckDB's database is closed (3-5 ms) on another thread while the lake
            # records the publish (decision 0014, seventh addendum)
            closing = threading.Thread(target=lake_sql.close, name="retail-publish-duckdb-close")
            closing.start()
            try:
                report.step("commit")
                point("publish.committed")
                if not report.nothing_to_do:
                    _record(lake, target, report, started_at)
                    report.step("record_in_lake")
            finally:
                closing.join()
    except psycopg.errors.InsufficientPrivilege as error:
        raise PublishRefused(
            f"permission denied at {target.display()}: {target.redact(error).strip()}"
        ) from None
    except psycopg.errors.DependentObjectsStillExist as error:
        raise PublishRefused(
            f"cannot replace a table in schema {target.schema} at {target.display()}: "
            f"{target.redact(error).strip()}"
        ) from None
    except psycopg.OperationalError as error:
        raise PublishFailed(
            f"lost the connection to {target.display()}: {target.redact(error).strip()}; "
            "nothing was published"
        ) from None
    except psycopg.Error as error:
        raise PublishFailed(
            f"publishing to {target.display()} failed, nothing was published: "
            f"{type(error).__name__}: {target.redact(error).strip()}"
        ) from None
    except BaseException as error:
        observer.finished("failed", f"{type(error).__name__}: {error}")
        raise
    finally:
        conn.close()
    report.seconds = time.perf_counter() - started
    _observed(observer, target, report)
    return report


def _observe(lake: Lake, report: PublishReport) -> CommandObserver:
    """Logs and OpenLineage events of a publish, under the run id its ``meta.runs`` row and
    its ``meta.publish_state`` commit carry (:func:`_record`)."""
    from retail_lakehouse.observe.command import CommandObserver

    observer = CommandObserver(lake, RunContext(report.run_id, "publish", datetime.now(UTC)))
    observer.started()
    return observer


def _observed(observer: CommandObserver, target: Target, report: PublishReport) -> None:
    run = observer.run
    namespace, database = target.lineage_namespace()
    for name, result in report.tables.items():
        if result.action == "unchanged":
            continue
        run.count(f"gold.{name}", rows_in=result.rows_written)
        run.external.append((namespace, f"{database}.{target.schema}.{name}", result.rows_written))
    run.changed = bool(run.external)
    observer.finished("succeeded" if run.changed else "idle")


def _run(
    conn: Any,
    lake: Lake,
    lake_sql: LakeSQL,
    target: Target,
    tables: list[TableContract],
    versions: dict[str, int | None],
    report: PublishReport,
    full: bool,
    take_over: bool,
) -> None:
    from retail_lakehouse.publish import ddl

    schema = target.schema
    digest = ddl.shape_digest(tables)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"retail publish {schema}"])
        found = _inspect(cur, schema, [t.name for t in tables])
        _check_privileges(cur, target, found)
        if not take_over:
            _refuse_conflicts(target, found, tables, report.lake_id, lake)
        report.step("inspect_target")
        reason = _full_reason(found, tables, digest, full, take_over)
        if reason:
            report.mode, report.reason = "full", reason
            _full(cur, lake_sql, schema, tables, versions, found, report)
        else:
            changes = []
            for t in tables:
                version = versions[t.qualified]
                assert version is not None
                if found.state[t.name]["delta_version"] == version:
                    report.tables[t.name] = TableResult("unchanged", version)
                else:
                    changes.append(incremental.Change(t, version, found.state[t.name]))
            if not changes:
                report.mode = "nothing"
                return
            incremental.sync(cur, lake, lake_sql, schema, changes, report)
            report.tables = {t.name: report.tables[t.name] for t in tables}  # contract order
        report.step("load")
        point("publish.loaded")
        _write_state(cur, schema, lake, report, digest, replace=bool(reason))
        point("publish.before_commit")


def _full_reason(
    found: _TargetState, tables: list[TableContract], digest: str, full: bool, take_over: bool
) -> str:
    if take_over:
        return "taking over the schema from another lake"
    if full:
        return "--full"
    if not found.state:
        return "first publish"
    missing = [t.name for t in tables if t.name not in found.state or t.name not in found.shapes]
    if missing:
        return f"missing {', '.join(missing)}"
    if any(row["shape"] != digest for row in found.state.values()):
        return "the tables' shape changed"
    return ""


def _full(
    cur: Any,
    lake_sql: LakeSQL,
    schema: str,
    tables: list[TableContract],
    versions: dict[str, int | None],
    found: _TargetState,
    report: PublishReport,
) -> None:
    """Load every table from scratch, keys and indexes built after the rows."""
    from psycopg import sql

    from retail_lakehouse.publish import ddl

    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    cur.execute(
        sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(ddl.MAINTENANCE_MEMORY))
    )
    cur.execute(
        sql.SQL("SET LOCAL max_parallel_maintenance_workers = {}").format(
            sql.Literal(ddl.MAINTENANCE_WORKERS)
        )
    )
    same_ddl = bool(found.state) and all(
        row["shape"] == ddl.shape_digest(tables) for row in found.state.values()
    )
    keep = [t for t in tables if same_ddl and found.shapes.get(t.name) == ddl.shape(t)]
    replace = [t for t in tables if t.name in found.shapes and t not in keep]
    for t in tables:
        if t.name in found.shapes:
            _execute(cur, ddl.drop_foreign_keys(schema, t))
    if replace:
        _execute(cur, ddl.drop_views(schema))
        for t in replace:
            cur.execute(sql.SQL("DROP TABLE {}").format(ddl.ident(schema, t.name)))
    for t in keep:
        _execute(cur, ddl.drop_keys(schema, t))
        cur.execute(ddl.set_fillfactor(schema, t))
    if keep:
        cur.execute(
            sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(ddl.ident(schema, t.name) for t in keep)
            )
        )
    for t in tables:
        if t not in keep:
            cur.execute(ddl.create_table(schema, t))
    for t in tables:
        lake_sql.register(t.qualified, version=versions[t.qualified])
    referencing = [t for t in tables if t.references]
    referenced = {name for t in referencing for _, name in t.references}
    # (a referencing table that is itself referenced would need its key before it is loaded)
    chained = any(t.qualified in referenced for t in referencing)
    if referencing and not chained and incremental.may_skip_row_triggers(cur):
        # the referenced tables loaded and keyed first, the foreign keys added while the
        # referencing tables (the fact) are still empty (PostgreSQL validates them by scanning
        # an empty table), then the fact loaded without its per-row triggers and checked once
        # by its distinct keys: six validation scans of the fact cost 0.25-0.3 s, the check
        # 0.02 s (decision 0014, sixth addendum). Every table is new or truncated by this
        # transaction (ACCESS EXCLUSIVE): no other session can touch a dimension meanwhile.
        first = [t for t in tables if not t.references]
        _copy_all(cur, lake_sql, schema, first, versions, report)
        report.step("copy")
        _add_keys(cur, schema, first)
        report.step("keys")
        for t in referencing:
            _execute(cur, ddl.add_foreign_keys(schema, t))
        report.step("foreign_keys")
        # their distinct keys found by DuckDB on another thread while PostgreSQL loads them
        # (a failure waits for it: a few tens of milliseconds)
        with ThreadPoolExecutor(1, thread_name_prefix="retail-publish-keys") as pool:
            keys = pool.submit(_reference_arrays, lake_sql, referencing)
            cur.execute("SET LOCAL session_replication_role = replica")
            _copy_all(cur, lake_sql, schema, referencing, versions, report)
            cur.execute("SET LOCAL session_replication_role = origin")
            report.step("copy referencing")
            point("publish.copied")
            for t, arrays in zip(referencing, keys.result(), strict=True):
                incremental.check_new_keys(cur, schema, t, arrays)
        report.step("check referencing")
        _add_keys(cur, schema, referencing)
        report.step("keys referencing")
        report.tables = {t.name: report.tables[t.name] for t in tables}  # contract order
    else:
        _copy_all(cur, lake_sql, schema, tables, versions, report)
        report.step("copy")
        point("publish.copied")
        _add_keys(cur, schema, tables)
        report.step("keys")
        for t in tables:
            _execute(cur, ddl.add_foreign_keys(schema, t))
        report.step("foreign_keys")
    for t in tables:
        _execute(cur, ddl.comments(schema, t))
    _execute(cur, ddl.create_views(schema))


def _copy_all(
    cur: Any,
    lake_sql: LakeSQL,
    schema: str,
    tables: list[TableContract],
    versions: dict[str, int | None],
    report: PublishReport,
) -> None:
    """``COPY`` every row of ``tables`` (new or truncated by this transaction: ``FREEZE``)."""
    from retail_lakehouse.publish import ddl
    from retail_lakehouse.publish.stream import copy_query

    for t in tables:
        written = copy_query(
            cur, ddl.ident(schema, t.name), t.schema, lake_sql, t.qualified, freeze=True
        )
        version = versions[t.qualified]
        assert version is not None
        batches = (
            incremental.batch_fingerprints(
                lake_sql.con, t.qualified, lake_sql.lake.delta(t.qualified, version)
            )
            if ddl.BATCH_COLUMN in t.schema.names
            else None
        )
        report.tables[t.name] = TableResult("loaded", version, written, 0, batches)


def _reference_arrays(lake_sql: LakeSQL, tables: list[TableContract]) -> list[list[str]]:
    """Per table, :func:`incremental.reference_arrays` of all its rows, on a cursor of its own
    (this runs on another thread)."""
    with lake_sql.con.cursor() as con:
        return [incremental.reference_arrays(con, t, t.qualified) for t in tables]


def _add_keys(cur: Any, schema: str, tables: list[TableContract]) -> None:
    from retail_lakehouse.publish import ddl

    for t in tables:
        _execute(cur, ddl.add_keys(schema, t))


def _write_state(
    cur: Any, schema: str, lake: Lake, report: PublishReport, digest: str, *, replace: bool
) -> None:
    from psycopg import sql
    from psycopg.types.json import Jsonb

    from retail_lakehouse.publish import ddl

    state = ddl.ident(schema, STATE_TABLE)
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (table_name text PRIMARY KEY, lake_id text NOT NULL, "
            "lake text NOT NULL, delta_version bigint NOT NULL, batches jsonb, "
            "shape text NOT NULL, run_id text NOT NULL, published_at timestamptz NOT NULL)"
        ).format(state)
    )
    if replace:
        cur.execute(
            sql.SQL("COMMENT ON TABLE {} IS {}").format(
                state,
                sql.Literal(
                    "Written by retail publish: which lake (lake_id) and which Delta version of "
                    "each gold table this schema holds. Do not edit."
                ),
            )
        )
        cur.execute(sql.SQL("DELETE FROM {}").format(state))
    rows = [
        (
            name,
            report.lake_id,
            str(lake.root),
            result.version,
            Jsonb(result.batches) if result.batches is not None else None,
            digest,
            report.run_id,
        )
        for name, result in report.tables.items()
        if replace or result.action != "unchanged"
    ]
    cur.executemany(
        sql.SQL(
            "INSERT INTO {} (table_name, lake_id, lake, delta_version, batches, shape, run_id, "
            "published_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now()) "
            "ON CONFLICT (table_name) DO UPDATE SET lake_id = EXCLUDED.lake_id, "
            "lake = EXCLUDED.lake, delta_version = EXCLUDED.delta_version, "
            "batches = EXCLUDED.batches, shape = EXCLUDED.shape, run_id = EXCLUDED.run_id, "
            "published_at = EXCLUDED.published_at"
        ).format(state),
        rows,
    )


def _execute(cur: Any, statements: list[Any]) -> None:
    for statement in statements:
        cur.execute(statement)


def _record(lake: Lake, target: Target, report: PublishReport, started_at: datetime) -> None:
    """The lake's record of a committed publish: a recorded run like every writing command.

    Its ``meta.publish_state`` commit (and the compaction every
    :data:`RECORD_SETTLE_EVERY` versions) carries the run id, and the run's ``meta.runs`` row
    (command ``publish``) comes last, so ``retail history`` names the commits and lineage and
    metrics see a run (decision 0014, sixteenth round). The intent, written first, makes a
    publish killed between these commits ``interrupted`` in the history (by the next command's
    recovery) rather than an unnamed commit; its rows stay: PostgreSQL did commit them."""
    from retail_lakehouse.lake import intents
    from retail_lakehouse.lake.commits import tagged
    from retail_lakehouse.lake.runs import record_run

    with tagged(report.run_id, "publish"):
        intent = intents.begin(lake, report.run_id, "publish")
        _record_state(lake, target, report)
        rows = {
            f"gold.{name}": {"in": result.rows_written, "out": 0}
            for name, result in report.tables.items()
            if result.action != "unchanged"
        }
        rows[META_PUBLISH_STATE.qualified] = {"in": 0, "out": len(report.tables)}
        record_run(
            lake,
            run_id=report.run_id,
            command="publish",
            started_at=started_at,
            status="succeeded",
            rows=rows,
        )
        intents.end(intent)


def _record_state(lake: Lake, target: Target, report: PublishReport) -> None:
    """The rows of ``meta.publish_state`` for a committed publish, one Delta commit.

    The rows are read by Arrow's JSON reader against the contract's schema: a Python list
    handed to ``pa.table`` goes through pyarrow's Python converter, whose first use imports
    pandas (0.3-0.5 s of a ``retail publish`` process; decision 0014, fifth addendum)."""
    import io

    import pyarrow.json as pa_json

    now = datetime.now(UTC).isoformat()
    lines = [
        json.dumps(
            {
                "run_id": report.run_id,
                "published_at": now,
                "target": target.identity(),
                "lake_id": report.lake_id,
                "table_name": f"gold.{name}",
                "delta_version": result.version,
                "mode": report.mode,
                "action": result.action,
                "rows_written": result.rows_written,
                "rows_deleted": result.rows_deleted,
                "batches": (
                    json.dumps(result.batches, sort_keys=True)
                    if result.batches is not None
                    else None
                ),
            }
        )
        for name, result in report.tables.items()
    ]
    schema = pa.schema([field.with_nullable(True) for field in META_PUBLISH_STATE.schema])
    rows = pa_json.read_json(
        io.BytesIO("\n".join(lines).encode()),
        parse_options=pa_json.ParseOptions(explicit_schema=schema),
    )
    version = lake.write(META_PUBLISH_STATE.qualified, rows)  # tagged by `_record`
    if version and version % RECORD_SETTLE_EVERY == 0:
        _settle_record(lake)


RECORD_SETTLE_EVERY = 10
"""Every this many versions of ``meta.publish_state`` its files are compacted into one and a
checkpoint is written, so the cost of a publish's record stays bounded however many publishes
a lake sees (decision 0014, eighth addendum)."""


def _settle_record(lake: Lake) -> None:
    """Compact ``meta.publish_state`` and checkpoint its log, as part of the publish.

    The table gets one small file and one JSON commit per publish. delta-rs checkpoints every
    100 commits by default, so each publish's append replayed up to 99 JSON commits (~0.45 ms
    of CPU each) and the checkpoint's file list grew without end: the record cost 8-15 ms on a
    new lake, 40-70 ms at 133 versions. Compaction is an ordinary run-tagged commit (the same
    one `retail optimize` makes, restorable and undoable like any other); the checkpoint is a
    read-side summary of that version, not a commit: a process killed while writing it leaves
    the version readable from its JSON commits."""
    from retail_lakehouse.lake.maintenance import optimize

    optimize(lake, [META_PUBLISH_STATE.qualified])
    table = lake.delta(META_PUBLISH_STATE.qualified)
    if table is not None:
        table.create_checkpoint()
