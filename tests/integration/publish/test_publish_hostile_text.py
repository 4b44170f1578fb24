"""Text that PostgreSQL takes badly, from a user's files to a published schema.

A NUL (``\\u0000`` in JSON, a Parquet cell) cannot be stored in PostgreSQL's ``text``: it used to
reach gold, and every later ``retail publish`` failed on it (exit 1, ``invalid byte sequence for
encoding "UTF8": 0x00``) until someone retracted the file. A NUL is binary data, never text: such a
value's line is now rejected at ingest, as a CSV line with one always was, and counted in
``bronze.rejects``. Everything PostgreSQL can store (a ``\\.`` line, backslashes,
quotes, look-alike letters, direction overrides, a megabyte of text) is published unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.integration.publish.support import create_database, ok, retail_env
from tests.pgcluster import Cluster

KEEP = {
    "84406B": "line1\n\\.\nline3",  # the end-of-data marker of COPY's text format, on a line
    "84406C": "back\\slash, \"double\" and 'single' quotes, \\N and NULL",
    "84406D": "ＷＨＩＴＥ ΗΕΑRΤ \u202erlo\u202c \u200bzero-width\u2028sep",  # look-alikes
    "84406E": "X" * 1_000_000,
    "84406G": "bell\u0007and escape\u001b[31m",  # control characters PostgreSQL stores
}
REFUSE = {"84406F": "nul\u0000byte"}


def line(stock_code: str, description: str, n: int) -> dict[str, object]:
    return {
        "InvoiceNo": f"5370{n:02d}",
        "StockCode": stock_code,
        "Description": description,
        "Quantity": 2,
        "InvoiceDate": "2011-03-01 10:00",
        "UnitPrice": 1.25,
        "CustomerID": "17850",
        "Country": "United Kingdom",
    }


def test_text_postgresql_cannot_store_is_rejected_at_ingest_and_the_rest_publishes(
    pg: Cluster, tmp_path: Path
) -> None:
    texts = [*KEEP.items(), *REFUSE.items()]
    records = [line(code, text, n) for n, (code, text) in enumerate(texts)]
    as_json = tmp_path / "lines.json"
    as_json.write_text(json.dumps(records))
    as_parquet = tmp_path / "lines.parquet"  # the same lines, other invoices
    more = [{**r, "InvoiceNo": f"5380{n:02d}"} for n, r in enumerate(records)]
    pq.write_table(pa.Table.from_pylist(more), as_parquet)
    lake = tmp_path / "lake"
    ok(retail_env("ingest", as_json, as_parquet, lake=lake))
    rejects = json.loads(
        ok(
            retail_env(
                "sql",
                "SELECT regexp_extract(_source_file, '[^/]*$') AS f, line_number AS n, "
                "reason, raw_line FROM bronze.rejects ORDER BY 1, 2",
                "-f",
                "json",
                lake=lake,
            )
        )
    )
    assert [(r["f"], r["n"]) for r in rejects] == [("lines.json", 6), ("lines.parquet", 6)]
    assert {r["reason"] for r in rejects} == {"a NUL character in a value (binary data?)"}
    assert "nul\\u0000byte" in rejects[0]["raw_line"]  # the values, as JSON: nothing lost
    ok(retail_env("run", lake=lake))

    dsn = create_database(pg, "hostile")
    ok(retail_env("publish", "--dsn", dsn, lake=lake))
    import psycopg

    with psycopg.connect(dsn) as conn:
        published = dict(
            conn.execute(
                "SELECT stock_code, description FROM retail.dim_product "
                "WHERE stock_code IS NOT NULL"
            ).fetchall()
        )
        lines = conn.execute("SELECT count(*) FROM retail.fact_sales").fetchone()
    assert published == KEEP
    assert lines == (2 * len(KEEP),)


def test_schema_names_postgresql_keeps_for_itself_are_refused(pg: Cluster, tmp_path: Path) -> None:
    """``pg_temp`` failed inside PostgreSQL (exit 1, "nothing was published"), and
    ``information_schema`` was published into (the SQL standard's catalog views live there);
    an empty ``--schema`` silently meant the default. Each is now refused before connecting."""
    lake = tmp_path / "lake"
    source = tmp_path / "lines.json"
    source.write_text(json.dumps([line("84406B", "ok", 1)]))
    ok(retail_env("ingest", source, lake=lake))
    ok(retail_env("run", lake=lake))
    dsn = create_database(pg, "reserved")
    for schema in ("pg_temp", "pg_catalog", "information_schema", ""):
        done = retail_env("publish", "--dsn", dsn, "--schema", schema, lake=lake)
        assert done.code == 2, (schema, done.stderr)
        assert f"schema name {schema!r} is not allowed" in done.stderr, done.stderr
    ours = pg.psql(
        "SELECT count(*) FROM pg_tables WHERE tablename = '_retail_publish'", dbname="reserved"
    )
    assert ours == "0"
