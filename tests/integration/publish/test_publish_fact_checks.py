"""The foreign keys of an append's new fact rows: one set-based check or PostgreSQL's per-row
triggers, the same result.

A user allowed to set ``session_replication_role`` (a superuser, or ``GRANT SET ON PARAMETER``)
loads the new fact rows without the per-row triggers and checks them in one query; any other
user keeps the deferred per-row checks. Both publish the same rows as a full publish, the
constraints stay validated, and a new row pointing at a missing dimension row fails the publish.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.benchmark.publish import split_file
from retail_lakehouse.lake.contracts.gold import FACT_SALES, GOLD_TABLES
from tests.integration.publish.support import create_database, ok, retail_env
from tests.pgcluster import Cluster

DB = "fact_checks"


def _differences(pg: Cluster, left: str, right: str) -> dict[str, str]:
    found = {}
    for table in (t.name for t in GOLD_TABLES):
        found[table] = pg.psql(
            f"SELECT (SELECT count(*) FROM (SELECT * FROM {left}.{table} EXCEPT ALL "
            f"SELECT * FROM {right}.{table}) a) + (SELECT count(*) FROM (SELECT * FROM "
            f"{right}.{table} EXCEPT ALL SELECT * FROM {left}.{table}) b)",
            dbname=DB,
        )
    return found


def test_append_checked_in_one_query_or_per_row_equals_full(pg: Cluster, tmp_path: Path) -> None:
    import psycopg

    from retail_lakehouse.publish import incremental
    from retail_lakehouse.publish.target import PublishFailed

    admin = create_database(pg, DB)
    pg.psql("CREATE ROLE publisher LOGIN PASSWORD 'publisher-pw-1'")
    pg.psql(f"GRANT CREATE ON DATABASE {DB} TO publisher")
    plain = pg.dsn("publisher", "publisher-pw-1", DB)
    source = tmp_path / "generated.csv"
    lake = tmp_path / "lake"
    ok(retail_env("generate", "--rows", "3000", "--out", source, lake=lake))
    first, rest = tmp_path / "first.csv", tmp_path / "rest.csv"
    split_file(source, first, rest, share=0.8)
    ok(retail_env("ingest", first, lake=lake))
    ok(retail_env("run", lake=lake))
    for dsn, schema in ((admin, "bulk"), (plain, "per_row")):
        ok(retail_env("publish", "--dsn", dsn, "--schema", schema, lake=lake))
    ok(retail_env("ingest", rest, lake=lake))
    ok(retail_env("run", lake=lake))
    for dsn, schema in ((admin, "bulk"), (plain, "per_row")):
        out = ok(retail_env("publish", "--dsn", dsn, "--schema", schema, lake=lake))
        assert "(incremental)" in out and "batches" in out
    ok(retail_env("publish", "--dsn", admin, "--schema", "complete", "--full", lake=lake))
    zero = {t.name: "0" for t in GOLD_TABLES}
    assert _differences(pg, "bulk", "complete") == zero
    assert _differences(pg, "per_row", "complete") == zero
    validated = pg.psql(
        "SELECT string_agg(n.nspname || ':' || count, ',' ORDER BY n.nspname) FROM ("
        "SELECT connamespace, count(*) FILTER (WHERE convalidated)::text AS count "
        "FROM pg_constraint WHERE contype = 'f' GROUP BY connamespace) c "
        "JOIN pg_namespace n ON n.oid = c.connamespace",
        dbname=DB,
    )
    assert validated == "bulk:6,complete:6,per_row:6"

    # the one-query check catches a new row whose dimension row is missing
    with psycopg.connect(admin) as conn, conn.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(
            "CREATE TEMP TABLE one AS SELECT * FROM bulk.fact_sales LIMIT 1; "
            "UPDATE one SET line_key = (SELECT min(line_key) - 1 FROM bulk.fact_sales), "
            "customer_key = 123456789, _batch_seq = 999999; "
            "INSERT INTO bulk.fact_sales SELECT * FROM one"
        )
        with pytest.raises(PublishFailed, match="1 customer_key not in dim_customer"):
            incremental.check_new_rows(cur, "bulk", FACT_SALES, [999999])
        conn.rollback()
        cur.execute("SELECT count(*) FROM bulk.fact_sales WHERE _batch_seq = 999999")
        assert cur.fetchone() == (0,)
