# ruff: noqa: B018, SIM105  (a throwaway measurement tool, decision 0011 point 48)
"""Replay a recorded ``retail run`` (``record.py``) as the floor of any implementation of it.

Usage: ``python benchmarks/floor/replay.py REC [--one-connection]`` on a fresh copy of the lake
the recording was made on, at the same path (the statements name its files).

What it does, in the recorded order, and nothing else: imports ``duckdb``, ``deltalake`` and
``pyarrow`` (pyarrow without NumPy, as ``retail run`` loads it); sends every DuckDB statement the
real run sent (results of queries fetched as Arrow tables, as the run fetches them); hands DuckDB
the few small Arrow tables the run built in Python (kept by the recorder in Arrow IPC files);
opens each Delta table the run read or wrote once to learn its snapshot (the statements already
name the files); and makes each Delta commit the run made: for staged files, their Parquet
footers read and one ``create_write_transaction`` with the recorded add/remove actions; for the
small tables, ``write_deltalake`` of the recorded rows with the lake's writer properties.

Left out, as costs of *this* implementation rather than of the work: Ibis, sqlglot, pydantic,
Typer, the settings, the rules' parsing, the SQL cache's keys, the run's lock, intents and
journal files, lineage, metrics and log files, statistics of the footers turned into JSON, the
choice of files to remove, and binding statements only to learn their schema. With
``--one-connection`` every connection and cursor of the run is one DuckDB connection (the run
opens 18: the engine's, the lake's small-read database and its cursors, two ``LakeSQL``).

A throwaway measuring tool (decision 0020, sixteenth round), not part of the package.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import sys
import tempfile
import time
from pathlib import Path

sys.modules["numpy"] = None  # type: ignore[assignment]  # as `retail run` loads pyarrow
import pyarrow.parquet as pq  # noqa: E402
from pyarrow import ipc  # noqa: E402

del sys.modules["numpy"]
import duckdb  # noqa: E402
from deltalake import (  # noqa: E402
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    Schema,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import TableNotFoundError  # noqa: E402
from deltalake.transaction import RemoveAction, create_table_with_add_actions  # noqa: E402

SPLIT = os.environ.get("FLOOR_SPLIT")
"""When set, print the process CPU and wall spent per kind of entry (and before the first)."""
REC = sys.argv[1]
ONE = "--one-connection" in sys.argv
WRITER = WriterProperties(
    max_row_group_size=131_072,
    compression="SNAPPY",
    column_properties={
        c: ColumnProperties(dictionary_enabled=False) for c in ("_record_hash", "_line_key")
    },
)
COPY_TARGET = re.compile(r"\) TO '([^']+)'")
RETURNS_ROWS = ("SELECT", "WITH", "EXECUTE", " WITH", "DESCRIBE")


def props(meta: object, apps: object) -> CommitProperties | None:
    if meta is None and not apps:
        return None
    txns = [Transaction(a, v) for a, v in apps] if apps else None  # type: ignore[attr-defined]
    return CommitProperties(custom_metadata=meta, app_transactions=txns)  # type: ignore[arg-type]


def actions(recorded: list[object]) -> list[object]:
    out: list[object] = []
    for a in recorded:
        if isinstance(a, tuple):
            _, path, change, stamp, size, parts = a
            out.append(
                RemoveAction(
                    path=path,
                    data_change=change,
                    deletion_timestamp=stamp,
                    size=size,
                    partition_values=parts,
                )
            )
        else:
            out.append(a)
    return out


def footers(uri: str, recorded: list[object]) -> None:
    for a in recorded:
        if not isinstance(a, tuple):
            pq.ParquetFile(f"{uri.rstrip('/')}/{a.path}").metadata  # type: ignore[attr-defined]


def added_files(uri: str) -> list[str]:
    """The files the table's latest commit added, from its log (``write_deltalake`` names
    them itself: the statements after it name the recorded run's)."""
    logs = sorted(Path(uri, "_delta_log").glob("*.json"))
    lines = logs[-1].read_text().splitlines()
    return [json.loads(x)["add"]["path"] for x in lines if x.startswith('{"add"')]


def main() -> None:
    with open(f"{REC}/log.pickle", "rb") as f:
        log = pickle.load(f)
    tmp = tempfile.TemporaryDirectory(prefix="floor-duckdb-")
    conns: dict[int, duckdb.DuckDBPyConnection] = {}
    one: duckdb.DuckDBPyConnection | None = None
    opened: set[str] = set()
    renames: dict[str, str] = {}
    spent: dict[str, list[float]] = {}
    spent["start (interpreter, imports, log)"] = [time.process_time(), 0.0]
    for entry in log:
        kind = entry[0]
        if SPLIT:
            cpu0, wall0 = time.process_time(), time.perf_counter()
        if kind == "connect":
            _, cid, parent = entry
            if ONE:
                one = one or duckdb.connect(":memory:")
                conns[cid] = one
            else:
                conns[cid] = (
                    duckdb.connect(":memory:") if parent is None else conns[parent].cursor()
                )
        elif kind == "exec":
            _, cid, sql, params = entry
            for old, new in renames.items():  # names of files this replay's writes chose
                sql = sql.replace(old, new)
            if sql.startswith("SET temp_directory"):
                sql = f"SET temp_directory = '{tmp.name}'"
            if ONE and (sql.startswith(("SET lock_configuration", "SET enable_external_access"))):
                continue
            con = conns[cid]
            if sql.startswith("COPY"):  # the run makes the staged file's folder first
                target = COPY_TARGET.search(sql)
                if target:
                    Path(target.group(1)).parent.mkdir(parents=True, exist_ok=True)
            result = con.execute(sql) if params is None else con.execute(sql, params)
            if sql.lstrip().upper().startswith(RETURNS_ROWS):
                result.to_arrow_table()
        elif kind == "arrow_view":
            _, cid, name, file = entry
            with ipc.open_file(f"{REC}/{file}") as reader:
                table = reader.read_all()
            conns[cid].from_arrow(table.__arrow_c_stream__()).create_view(name, replace=True)
        elif kind == "open":
            uri = entry[1]
            if uri not in opened:
                opened.add(uri)
                try:
                    DeltaTable(uri)
                except TableNotFoundError:  # a table the run looks for that does not exist
                    pass
        elif kind == "txn":
            _, uri, acts, mode, schema, meta, apps = entry
            footers(uri, acts)
            DeltaTable(uri).create_write_transaction(
                actions(acts),  # type: ignore[arg-type]
                mode=mode,
                schema=Schema.from_json(schema),
                commit_properties=props(meta, apps),
            )
        elif kind == "create":
            _, uri, schema, acts, name, description, meta, apps, mode = entry
            footers(uri, acts)
            create_table_with_add_actions(
                uri,
                Schema.from_json(schema),
                actions(acts),  # type: ignore[arg-type]
                mode=mode or "error",
                name=name,
                description=description,
                commit_properties=props(meta, apps),
            )
        elif kind == "write":
            _, uri, file, kwargs, meta, apps, recorded_adds = entry
            with ipc.open_file(f"{REC}/{file}") as reader:
                table = reader.read_all()
            write_deltalake(
                uri, table, commit_properties=props(meta, apps), writer_properties=WRITER, **kwargs
            )
            for old, new in zip(recorded_adds, added_files(uri), strict=True):
                renames[old] = new
        else:
            raise SystemExit(f"unknown entry {kind}")
        if SPLIT:
            label = kind
            if kind == "exec":
                label = "exec " + entry[2].lstrip().split()[0].upper()
            cell = spent.setdefault(label, [0.0, 0.0])
            cell[0] += time.process_time() - cpu0
            cell[1] += time.perf_counter() - wall0
    for con in {id(c): c for c in conns.values()}.values():
        con.close()
    tmp.cleanup()
    if SPLIT:
        for label, (cpu, wall) in spent.items():
            print(f"{label:36} CPU {cpu:.3f} wall {wall:.3f}", file=sys.stderr)
        print(f"{'whole (to here)':36} CPU {time.process_time():.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
