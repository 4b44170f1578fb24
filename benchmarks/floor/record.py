"""Record what one real ``retail`` command does to DuckDB and to the Delta logs, in order.

Usage: ``python benchmarks/floor/record.py OUT -- --lake L run`` (the arguments after ``--``
are ``retail``'s). Writes ``OUT/log.pickle``: a list of entries in the order they happened
(every thread), each one of

- ``("exec", conn, sql, params)``: a statement sent with ``execute`` on connection ``conn``;
- ``("arrow_view", conn, name, file)``: an Arrow table handed to DuckDB (``from_arrow``) and
  made a view ``name``; the table is kept in ``OUT/<file>`` (Arrow IPC);
- ``("rel", conn, sql, how)``: a relation made with ``sql()`` then run (``how``);
- ``("connect", conn, parent)``: a connection or cursor opened;
- ``("open", uri)``: a ``DeltaTable`` constructed;
- ``("txn", uri, actions, mode, schema_json, metadata, apps)``: a commit of staged files;
- ``("create", uri, schema_json, actions, name, description, metadata, apps)``: a table created
  by a commit of staged files;
- ``("write", uri, file, kwargs)``: ``write_deltalake`` of an Arrow table (kept in ``OUT``).

A throwaway measuring tool (decision 0020, sixteenth round), not part of the package: it wraps
the DuckDB connections and the three delta-rs commit calls the package uses, then runs the real
CLI in this process.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import Any

OUT = Path(sys.argv[1])
ARGS = sys.argv[sys.argv.index("--") + 1 :]
OUT.mkdir(parents=True, exist_ok=True)

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
from pyarrow import ipc  # noqa: E402

LOG: list[tuple[Any, ...]] = []
LOCK = threading.Lock()
IDS = itertools.count()
FILES = itertools.count()


def log(*entry: Any) -> None:
    with LOCK:
        LOG.append(entry)


def keep(table: pa.Table) -> str:
    name = f"t{next(FILES)}.arrow"
    with ipc.new_file(OUT / name, table.schema) as out:
        out.write_table(table)
    return name


class Rel:
    def __init__(self, conn: int, rel: Any, sql: str | None) -> None:
        self._conn, self._rel, self._sql = conn, rel, sql

    def create_view(self, name: str, replace: bool = True) -> Any:
        return self._rel.create_view(name, replace=replace)

    def _run(self, how: str) -> Any:
        if self._sql is not None:
            log("rel", self._conn, self._sql, how)
        return getattr(self._rel, how)

    def to_arrow_table(self, *a: Any, **k: Any) -> Any:
        return self._run("to_arrow_table")(*a, **k)

    def fetch_arrow_table(self, *a: Any, **k: Any) -> Any:
        return self._run("fetch_arrow_table")(*a, **k)

    def fetchall(self, *a: Any, **k: Any) -> Any:
        return self._run("fetchall")(*a, **k)

    def fetchone(self, *a: Any, **k: Any) -> Any:
        return self._run("fetchone")(*a, **k)

    def __getattr__(self, name: str) -> Any:
        if name not in {"columns", "types", "dtypes", "alias", "description"}:
            log("rel_other", self._conn, self._sql, name)
        return getattr(self._rel, name)


class Conn:
    def __init__(self, con: Any, parent: int | None) -> None:
        self._con = con
        self._id = next(IDS)
        log("connect", self._id, parent)

    def execute(self, sql: str, parameters: Any = None, *a: Any, **k: Any) -> Any:
        log("exec", self._id, sql, parameters)
        if parameters is None:
            self._con.execute(sql, *a, **k)
        else:
            self._con.execute(sql, parameters, *a, **k)
        return self

    def sql(self, sql: str, *a: Any, **k: Any) -> Rel:
        return Rel(self._id, self._con.sql(sql, *a, **k), sql)

    def from_arrow(self, data: Any) -> Any:
        table = pa.RecordBatchReader.from_stream(_Capsule(data)).read_all()
        rel = self._con.from_arrow(table.__arrow_c_stream__())
        me = self

        class ArrowRel:
            def create_view(self, name: str, replace: bool = True) -> Any:
                log("arrow_view", me._id, name, keep(table))
                return rel.create_view(name, replace=replace)

            def __getattr__(self, attr: str) -> Any:
                log("rel_other", me._id, "from_arrow", attr)
                return getattr(rel, attr)

        return ArrowRel()

    def cursor(self) -> Conn:
        return Conn(self._con.cursor(), self._id)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._con, name)
        if callable(attr) and name not in {"close", "fetchall", "fetchone", "description"}:
            if name in {"fetch_arrow_table", "to_arrow_table", "arrow", "fetch_record_batch"}:
                return attr
            log("conn_other", self._id, name)
        return attr


class _Capsule:
    """A capsule handed to ``from_arrow`` (``x.__arrow_c_stream__()``) as a stream object."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._capsule


_connect = duckdb.connect


def connect(*a: Any, **k: Any) -> Conn:
    return Conn(_connect(*a, **k), None)


duckdb.connect = connect  # type: ignore[assignment]

import deltalake  # noqa: E402
import deltalake.table as dtable  # noqa: E402

_init = dtable.DeltaTable.__init__


def init(self: Any, table_uri: Any, *a: Any, **k: Any) -> None:
    log("open", str(table_uri), k.get("version", a[0] if a else None))
    _init(self, table_uri, *a, **k)


dtable.DeltaTable.__init__ = init  # type: ignore[method-assign]
_cwt = dtable.DeltaTable.create_write_transaction


def _props(properties: Any) -> tuple[Any, Any]:
    if properties is None:
        return None, None
    apps = [(t.app_id, t.version) for t in (properties.app_transactions or [])]
    return properties.custom_metadata, apps


def _acts(actions: Any) -> list[Any]:
    from deltalake.transaction import RemoveAction

    return [
        ("remove", a.path, a.data_change, a.deletion_timestamp, a.size, a.partition_values)
        if isinstance(a, RemoveAction)
        else a
        for a in actions
    ]


def cwt(self: Any, actions: Any, mode: str, schema: Any, *a: Any, **k: Any) -> Any:
    log(
        "txn",
        self.table_uri,
        _acts(actions),
        mode,
        schema.to_json(),
        *_props(k.get("commit_properties")),
    )
    return _cwt(self, actions, mode, schema, *a, **k)


dtable.DeltaTable.create_write_transaction = cwt  # type: ignore[method-assign]

from retail_lakehouse.lake import staged, store  # noqa: E402

_create = staged.create_table_with_add_actions


def create(uri: str, schema: Any, actions: Any, **k: Any) -> Any:
    meta, apps = _props(k.get("commit_properties"))
    log(
        "create",
        uri,
        schema.to_json(),
        _acts(actions),
        k.get("name"),
        k.get("description"),
        meta,
        apps,
        k.get("mode"),
    )
    return _create(uri, schema, actions, **k)


staged.create_table_with_add_actions = create  # type: ignore[assignment]
_write = store.write_deltalake


def write(uri: str, data: Any, **k: Any) -> Any:
    table = data if isinstance(data, pa.Table) else pa.table(data)
    meta, apps = _props(k.pop("commit_properties", None))
    entry = [
        "write",
        uri,
        keep(table),
        {x: v for x, v in k.items() if x != "writer_properties"},
        meta,
        apps,
    ]
    log(*entry)
    result = _write(uri, table, commit_properties=_rebuild(meta, apps), **k)
    with LOCK:  # the files this commit added: later statements name them
        at = LOG.index(tuple(entry))
        LOG[at] = (*entry, added_files(uri))
    return result


def added_files(uri: str) -> list[str]:
    import json

    logs = sorted(Path(uri, "_delta_log").glob("*.json"))
    lines = logs[-1].read_text().splitlines()
    return [json.loads(x)["add"]["path"] for x in lines if x.startswith('{"add"')]


def _rebuild(meta: Any, apps: Any) -> Any:
    if meta is None and not apps:
        return None
    return deltalake.CommitProperties(
        custom_metadata=meta,
        app_transactions=[deltalake.Transaction(a, v) for a, v in apps] or None,
    )


store.write_deltalake = write  # type: ignore[assignment]


@atexit.register
def dump() -> None:
    with open(OUT / "log.pickle", "wb") as out:
        pickle.dump(LOG, out)


os.environ.setdefault("RETAIL_SQL_CACHE", "/tmp/fl16/sqlcache")
from retail_lakehouse.cli.app import main  # noqa: E402

sys.argv = ["retail", *ARGS]
main()
