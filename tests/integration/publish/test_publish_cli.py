"""``retail publish`` against a real PostgreSQL, checked with SQL from the user's side.

Build a lake, publish, compare every gold table's counts and totals in PostgreSQL with the lake's
(`retail sql`); append, run, publish again and compare; publish again and see no row written;
an incremental publish equals a full one; keys, foreign keys, types, comments and views are
there. Then ``[publish] after_run``.
"""

from __future__ import annotations

import json
from pathlib import Path

from retail_lakehouse.benchmark.publish import split_file
from retail_lakehouse.lake.contracts.gold import FACT_SALES, GOLD_TABLES
from tests.integration.publish.support import (
    create_database,
    lake_totals,
    ok,
    pg_totals,
    retail_env,
    write_counters,
)
from tests.pgcluster import PASSWORD, Cluster

GOLD = [t.name for t in GOLD_TABLES]  # the contracts' list, in their order


def two_parts(tmp_path: Path, rows: int = 6000) -> tuple[Path, Path]:
    """A generated file cut in two at an invoice boundary: a lake, then its next export."""
    source = tmp_path / "generated.csv"
    ok(retail_env("generate", "--rows", str(rows), "--out", source, lake=tmp_path / "unused"))
    first, rest = tmp_path / "first.csv", tmp_path / "rest.csv"
    split_file(source, first, rest, share=0.8)
    return first, rest


def test_publish_then_append_then_nothing_new(tmp_path: Path, pg: Cluster) -> None:
    dsn = create_database(pg, "e2e")
    first_part, next_part = two_parts(tmp_path)
    lake = tmp_path / "lake"
    ok(retail_env("ingest", first_part, lake=lake))
    ok(retail_env("run", lake=lake))

    first = retail_env("publish", "--dsn", dsn, lake=lake)
    out = ok(first)
    assert "full: first publish" in out
    assert PASSWORD not in first.stdout + first.stderr
    assert pg_totals(pg, "e2e") == lake_totals(lake)

    # the publish is in the lineage: the gold tables in, the PostgreSQL tables out
    from retail_lakehouse.observe.lineage.events import events_in

    published = [e for e in events_in(lake / "_lineage") if e["job"]["name"] == "retail.publish"]
    assert [e["eventType"] for e in published] == ["START", "COMPLETE"]
    outputs = {o["name"]: o for o in published[-1]["outputs"]}
    assert outputs["e2e.retail.fact_sales"]["namespace"].startswith("postgres://")
    assert "gold/fact_sales" in {i["name"].split("/", 1)[-1][-15:] for i in published[-1]["inputs"]}
    assert PASSWORD not in json.dumps(published)

    # keys, deferred foreign keys from the fact to all six dimensions, all holding
    fks = pg.psql(
        "SELECT count(*) FILTER (WHERE convalidated AND condeferrable) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = 'retail.fact_sales'::regclass",
        dbname="e2e",
    )
    assert fks == "6"
    pks = pg.psql(
        "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = 'retail' AND c.contype = 'p'",
        dbname="e2e",
    )
    assert pks == str(len(GOLD) + 1)  # every gold table and the state table
    orphans = pg.psql(
        "SELECT count(*) FROM retail.fact_sales f "
        "LEFT JOIN retail.dim_customer c USING (customer_key) "
        "LEFT JOIN retail.dim_product p USING (product_key) "
        "LEFT JOIN retail.dim_date d USING (date_key) "
        "WHERE c.customer_key IS NULL OR p.product_key IS NULL OR d.date_key IS NULL",
        dbname="e2e",
    )
    assert orphans == "0"
    indexes = pg.psql(
        "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
        "WHERE schemaname = 'retail' AND tablename = 'fact_sales'",
        dbname="e2e",
    )
    for column in ("customer_key", "product_key", "country_key"):
        assert f"fact_sales_{column}_idx" in indexes
    # one block-range index serves filters on dates and on batches
    brin = pg.psql(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'retail' "
        "AND indexname = 'fact_sales_date_key_batch_seq_idx'",
        dbname="e2e",
    )
    assert "USING brin (date_key, _batch_seq)" in brin

    # faithful types and the contract's descriptions as comments
    types = pg.psql(
        "SELECT string_agg(column_name || ' ' || data_type || "
        "coalesce('(' || numeric_precision || ',' || numeric_scale || ')', ''), ', ') "
        "FROM information_schema.columns WHERE table_schema = 'retail' "
        "AND table_name = 'fact_sales' AND column_name IN "
        "('line_amount', 'invoice_ts', 'is_sale', 'quantity', 'invoice_no')",
        dbname="e2e",
    )
    assert "line_amount numeric(18,4)" in types
    assert "invoice_ts timestamp without time zone" in types
    assert "is_sale boolean" in types
    assert "quantity bigint(64,0)" in types
    assert "invoice_no text" in types
    comment = pg.psql(
        "SELECT col_description('retail.fact_sales'::regclass, attnum) FROM pg_attribute "
        "WHERE attrelid = 'retail.fact_sales'::regclass AND attname = 'line_amount'",
        dbname="e2e",
    )
    assert comment == FACT_SALES.column_description("line_amount") != ""
    assert pg.psql("SELECT obj_description('retail.fact_sales'::regclass)", dbname="e2e") == (
        FACT_SALES.description
    )

    # the BI views answer without joins
    fact_rows = pg.psql("SELECT count(*) FROM retail.fact_sales", dbname="e2e")
    assert pg.psql("SELECT count(*) FROM retail.sales", dbname="e2e") == fact_rows
    assert pg.psql("SELECT count(*) FROM retail.daily_sales_by_country", dbname="e2e") == pg.psql(
        "SELECT count(*) FROM retail.mart_daily_sales", dbname="e2e"
    )
    assert (
        pg.psql(
            "SELECT sum(gross_revenue) = (SELECT sum(gross_revenue) FROM retail.mart_daily_sales) "
            "FROM retail.monthly_sales",
            dbname="e2e",
        )
        == "t"
    )

    # append, run, publish again: incremental, equal to the lake
    before_append = write_counters(pg, "e2e")
    ok(retail_env("ingest", next_part, lake=lake))
    ok(retail_env("run", lake=lake))
    second = ok(retail_env("publish", "--dsn", dsn, lake=lake))
    assert "(incremental)" in second
    assert "fact_sales" in second and "batches" in second
    assert pg_totals(pg, "e2e") == lake_totals(lake)
    after_append = write_counters(pg, "e2e")
    assert after_append != before_append  # the counters do see writes

    # nothing new: nothing written, the row counters do not move
    third = ok(retail_env("publish", "--dsn", dsn, lake=lake))
    assert "nothing to publish" in third
    assert write_counters(pg, "e2e") == after_append

    # an incremental publish equals a full one (same lake, another schema)
    ok(retail_env("publish", "--dsn", dsn, "--schema", "retail_full", "--full", lake=lake))
    for table in GOLD:
        differ = pg.psql(
            f"SELECT (SELECT count(*) FROM (SELECT * FROM retail.{table} EXCEPT ALL "
            f"SELECT * FROM retail_full.{table}) a) + (SELECT count(*) FROM (SELECT * FROM "
            f"retail_full.{table} EXCEPT ALL SELECT * FROM retail.{table}) b)",
            dbname="e2e",
        )
        assert differ == "0", table

    # the lake records each publish, without the password
    recorded = ok(
        retail_env(
            "sql",
            "SELECT count(DISTINCT run_id) AS runs, string_agg(DISTINCT target, ';') AS targets "
            "FROM meta.publish_state",
            "-f",
            "csv",
            lake=lake,
        )
    )
    assert recorded.splitlines()[1].startswith("3,")
    assert PASSWORD not in recorded and "retail_admin@127.0.0.1" in recorded


def test_publish_after_run(pg: Cluster, real_files: list[Path], tmp_path: Path) -> None:
    dsn = create_database(pg, "afterrun")
    config = tmp_path / "retail.toml"
    config.write_text(f'[publish]\ndsn = "{dsn}"\nafter_run = true\n', encoding="utf-8")
    env = {"RETAIL_CONFIG": str(config)}
    lake = tmp_path / "lake"
    ok(retail_env("ingest", real_files[2], lake=lake, env=env))
    done = retail_env("run", lake=lake, env=env)
    assert "published to postgresql://retail_admin@127.0.0.1" in ok(done)
    assert PASSWORD not in done.stdout + done.stderr
    assert pg_totals(pg, "afterrun") == lake_totals(lake)

    # a publish failure after a run: reported, exit 1, the run's commits stay
    ok(retail_env("ingest", real_files[0], lake=lake, env=env))
    unreachable = {**env, "RETAIL_PUBLISH_DSN": "postgresql://nobody:pw@127.0.0.1:1/x"}
    failed = retail_env("run", lake=lake, env=unreachable)
    assert failed.code == 1, failed.stdout + failed.stderr
    assert "the run succeeded, but publishing failed" in failed.stderr
    assert "cannot connect" in failed.stderr
    totals = lake_totals(lake)
    assert totals[("fact_sales", "rows")] > pg_totals(pg, "afterrun")[("fact_sales", "rows")]


def test_lists_and_awkward_text_round_trip_through_copy(pg: Cluster, tmp_path: Path) -> None:
    """NULL vs empty text, quotes, commas, newlines, and lists as PostgreSQL arrays."""
    import psycopg
    import pyarrow as pa

    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.query import LakeSQL
    from retail_lakehouse.publish import ddl
    from retail_lakehouse.publish.stream import copy_query

    schema = pa.schema(
        [
            ("s", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("n", pa.list_(pa.int64())),
            ("m", pa.decimal128(18, 4)),
        ]
    )
    rows = [
        ("", ["a", None, 'b"c', "d,e", "", "x\\y", "NULL"], [1, None, 3], "2.5000"),
        (None, None, [], None),
        ('q"u,o\nte', [], None, "-0.0001"),
    ]
    dsn = create_database(pg, "awkward")
    with LakeSQL(Lake(tmp_path / "empty"), tables=[]) as lake_sql:
        lake_sql.con.execute(
            "CREATE TABLE src AS SELECT * FROM (VALUES "
            "('', ['a', NULL, 'b\"c', 'd,e', '', 'x\\y', 'NULL'], [1, NULL, 3], "
            "2.5::DECIMAL(18,4)),"
            "(NULL, NULL, []::BIGINT[], NULL),"
            "('q\"u,o\nte', []::VARCHAR[], NULL, -0.0001::DECIMAL(18,4))) t(s, tags, n, m)"
        )
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE t (s text, tags text[], n bigint[], m numeric(18,4), "
                "i serial PRIMARY KEY)"
            )
            sent = copy_query(cur, ddl.ident("public", "t"), schema, lake_sql, "src")
            conn.commit()
            cur.execute("SELECT s, tags, n, m::text FROM t ORDER BY i")
            back = cur.fetchall()
    assert sent == 3
    assert back == rows


def test_benchmark_publish_path(pg: Cluster, tmp_path: Path) -> None:
    """``retail benchmark --publish``: the figures docs/benchmarks.md quotes, on a small size."""

    dsn = create_database(pg, "bench")
    out = ok(
        retail_env(
            "benchmark",
            "--publish",
            dsn,
            "--rows",
            "3000",
            "--json",
            "--workdir",
            tmp_path,
            lake=tmp_path / "unused",
        )
    )
    result = json.loads(out)["publish"]
    run = result["runs"][0]
    assert run["fact_rows"] > 0 and run["full_rows"] > run["fact_rows"]
    assert 0 < run["incremental_rows"] < run["full_rows"]
    assert run["nothing_new_rows"] == 0
    assert PASSWORD not in out
    assert (
        pg.psql(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'retail_benchmark%'",
            dbname="bench",
        )
        == "0"
    )


def test_the_lakes_record_of_publishes_stays_small(
    pg: Cluster, real_files: list[Path], tmp_path: Path
) -> None:
    """Each publish appends its record to ``meta.publish_state`` (one file, one commit); left
    alone the table's live files and uncheckpointed commits grew with every publish, and so did
    each publish's cost of recording (40-70 ms of CPU at 133 publishes). Every tenth version the
    publish compacts the table and checkpoints its log: nothing of the record is lost."""
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.publish.postgres import RECORD_SETTLE_EVERY

    dsn = create_database(pg, "record")
    lake = tmp_path / "lake"
    ok(retail_env("ingest", real_files[2], lake=lake))
    ok(retail_env("run", lake=lake))
    publishes = RECORD_SETTLE_EVERY + 2
    for _ in range(publishes):
        ok(retail_env("publish", "--dsn", dsn, "--full", lake=lake))
    table = Lake(lake).delta("meta.publish_state")
    assert table is not None
    assert len(table.file_uris()) <= RECORD_SETTLE_EVERY // 2
    log = lake / "meta" / "publish_state" / "_delta_log"
    assert list(log.glob("*.checkpoint.parquet"))
    recorded = ok(
        retail_env(
            "sql",
            "SELECT count(DISTINCT run_id) AS runs, count(*) AS tables FROM meta.publish_state",
            "-f",
            "csv",
            lake=lake,
        )
    )
    assert recorded.splitlines()[1] == f"{publishes},{publishes * len(GOLD)}"


def test_the_watcher_publishes_after_its_runs(
    pg: Cluster, real_files: list[Path], tmp_path: Path
) -> None:
    """``[publish] after_run = true`` was honoured by ``retail run`` only: the watcher, the
    documented way to run unattended, ran the pipeline and left PostgreSQL behind the lake. Its
    runs now publish too; a publish that fails is said, retried, alerted (``publish_failed``,
    cleared by the next publish that works) and makes ``--once`` exit 1."""
    dsn = create_database(pg, "watched")
    landing = tmp_path / "landing"
    landing.mkdir()
    config = tmp_path / "retail.toml"
    config.write_text(
        f'landing = "{landing}"\n[publish]\ndsn = "{dsn}"\nafter_run = true\n', encoding="utf-8"
    )
    env = {"RETAIL_CONFIG": str(config)}
    lake = tmp_path / "lake"
    (landing / real_files[2].name).write_bytes(real_files[2].read_bytes())
    unreachable = {**env, "RETAIL_PUBLISH_DSN": "postgresql://nobody:pw-9x@127.0.0.1:1/x"}
    failed = retail_env(
        "watch", "--once", "--settle", "0", "--retries", "2", "--backoff", "0.1",
        lake=lake, env=unreachable,
    )  # fmt: skip
    said = failed.stdout + failed.stderr
    assert "publishing failed: cannot connect to postgresql://nobody@127.0.0.1:1/x" in said, said
    assert "pw-9x" not in said
    # retried like a failed run (an idle run, then the publish again), then alerted and exit 1:
    # `retail watch --once` in cron said 0 while PostgreSQL stayed behind the lake
    assert "publish attempt 1/2 failed; retrying in 0.1s" in said, said
    assert failed.code == 1, said
    alerts = retail_env("alerts", "list", "--open", lake=lake, env=env)
    assert "publish_failed" in ok(alerts), alerts.stdout

    (landing / real_files[0].name).write_bytes(real_files[0].read_bytes())
    done = retail_env("watch", "--once", "--settle", "0", lake=lake, env=env)
    assert "published to postgresql://retail_admin@127.0.0.1" in ok(done)
    assert PASSWORD not in done.stdout + done.stderr
    assert pg_totals(pg, "watched") == lake_totals(lake)
    cleared = retail_env("alerts", "list", "--open", lake=lake, env=env)
    assert "publish_failed" not in ok(cleared), cleared.stdout  # a publish that worked clears it
