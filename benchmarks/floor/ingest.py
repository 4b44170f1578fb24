"""The floor of ``retail ingest FILE`` as one process: the work no implementation can skip.

Usage: ``python benchmarks/floor/ingest.py REC LAKE FILE`` where ``REC`` is a recording of a real
``retail ingest`` of the same kind of file (``record.py``: its three commits' schemas, actions and
small rows are reused) and ``LAKE`` a copy of the lake it was recorded on, at the same path.

What it does:
1. ``os.fork`` first thing, while the process runs one thread (the isolation decision 0008 asks
   for, at its cheapest: no second interpreter, no re-import). The child sets an address-space
   limit, imports DuckDB only, and parses the file with DuckDB's own CSV reader (all columns as
   text, as the bare copy the target compares with), adds the lineage columns and the per-line
   MD5 ``_record_hash`` (bronze's definition), and writes one Snappy Parquet file staged in
   ``bronze/sales_lines`` (bronze's Parquet options); it reports the row count on a pipe.
2. Meanwhile the parent imports pyarrow (without NumPy) and deltalake and hashes the file
   (SHA-256: the manifest's exactly-once key).
3. The parent waits for the child, reads the staged file's footer and makes the real ingest's
   three Delta commits: the staged file added to ``bronze/sales_lines``, the manifest row
   appended to ``bronze/files``, the run's row to ``meta/runs``.

Left out: the settings, Typer, pydantic, the format evidence (date order, decimal comma, header
detection: ``sources/formats.py``), Polars' reader and its per-line checks and rejects, the
lock, intents and journal, lineage events and logs. A throwaway measuring tool (decision 0020,
sixteenth round), not part of the package.
"""

from __future__ import annotations

import os
import sys

REC, LAKE, FILE = sys.argv[1], sys.argv[2], sys.argv[3]
RAW = (
    "invoice_no", "stock_code", "description", "quantity",
    "invoice_date", "unit_price", "customer_id", "country",
)  # fmt: skip
HEADER = (
    "InvoiceNo", "StockCode", "Description", "Quantity",
    "InvoiceDate", "UnitPrice", "CustomerID", "Country",
)  # fmt: skip
STAGED = f"{LAKE}/bronze/sales_lines/part-floor-{os.getpid()}.snappy.parquet"

read_end, write_end = os.pipe()
child = os.fork()
if child == 0:  # the reader: one file, limits, DuckDB only
    import resource

    os.close(read_end)
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import duckdb

    os.makedirs(os.path.dirname(STAGED), exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET memory_limit = '512MB'")
    parts = ", ".join(f"coalesce(\"{c}\", '\\N')" for c in RAW)
    # bronze keeps an empty field as '' (DuckDB's reader makes it NULL)
    cols = ", ".join(f'coalesce("{h}", \'\') AS "{c}"' for h, c in zip(HEADER, RAW, strict=True))
    name = os.path.basename(FILE)
    rows = con.execute(
        f"COPY (SELECT *, '{name}' AS _source_file, 'sha' AS _source_sha256, "
        "'b000002' AS _batch_id, 2::BIGINT AS _batch_seq, "
        "(row_number() OVER ())::BIGINT + 1 AS _row_number, "
        "now() AS _ingested_at, 1 AS _schema_version, "
        f"md5(concat_ws(chr(31), {parts})) AS _record_hash "
        f"FROM (SELECT {cols} FROM read_csv('{FILE}', all_varchar = true, header = true))) "
        f"TO '{STAGED}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 131072)"
    ).fetchone()
    os.write(write_end, str(rows[0] if rows else 0).encode())
    os._exit(0)

os.close(write_end)
import hashlib  # noqa: E402
import pickle  # noqa: E402

sys.modules["numpy"] = None  # type: ignore[assignment]  # as `retail ingest` loads pyarrow
import pyarrow.parquet as pq  # noqa: E402
from pyarrow import ipc  # noqa: E402

del sys.modules["numpy"]
from deltalake import (  # noqa: E402
    CommitProperties,
    DeltaTable,
    Schema,
    Transaction,
    write_deltalake,
)
from deltalake.transaction import create_table_with_add_actions  # noqa: E402

digest = hashlib.sha256()
with open(FILE, "rb") as f:
    while chunk := f.read(1 << 20):
        digest.update(chunk)
answer = os.read(read_end, 64)
_, status = os.waitpid(child, 0)
if status != 0 or not answer:
    raise SystemExit(f"{FILE}: the reader failed ({status})")

with open(f"{REC}/log.pickle", "rb") as f:
    log = pickle.load(f)


def props(meta: object, apps: object) -> CommitProperties | None:
    if meta is None and not apps:
        return None
    txns = [Transaction(a, v) for a, v in apps] if apps else None  # type: ignore[attr-defined]
    return CommitProperties(custom_metadata=meta, app_transactions=txns)  # type: ignore[arg-type]


for entry in log:
    if entry[0] == "txn":
        _, uri, acts, mode, schema, meta, apps = entry
        footer = pq.ParquetFile(STAGED).metadata
        add = acts[0]
        add.path = os.path.basename(STAGED)
        add.size = os.path.getsize(STAGED)
        table = DeltaTable(uri)
        table.create_write_transaction(
            [add], mode=mode, schema=Schema.from_json(schema), commit_properties=props(meta, apps)
        )
    elif entry[0] == "create":  # a first ingest creates the table with its first file
        _, uri, schema, acts, name, description, meta, apps, mode = entry
        footer = pq.ParquetFile(STAGED).metadata
        add = acts[0]
        add.path = os.path.basename(STAGED)
        add.size = os.path.getsize(STAGED)
        create_table_with_add_actions(
            uri,
            Schema.from_json(schema),
            [add],
            mode=mode or "error",
            name=name,
            description=description,
            commit_properties=props(meta, apps),
        )
    elif entry[0] == "write":
        _, uri, file, kwargs, meta, apps, _adds = entry
        with ipc.open_file(f"{REC}/{file}") as reader:
            rows = reader.read_all()
        write_deltalake(uri, rows, commit_properties=props(meta, apps), **kwargs)
