"""An append's lake side prepared on other threads (decision 0014, fourth and fifth addenda):
the same rows as in line, as streamed, as rows replaced instead of updated in place, as a full
publish; a failure on the lake side rolls everything back; the shortcuts (fingerprints from the
Delta log, versions and lake id from the log, keys bound as arrays, dimension deletes without
per-row triggers) give exactly what the long ways give."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from retail_lakehouse.lake.contracts.gold import DIM_PRODUCT, FACT_SALES, GOLD_TABLES
from tests.integration.publish.support import content_digest, create_database, ok, retail_env
from tests.integration.publish.test_publish_cli import two_parts
from tests.pgcluster import Cluster

DB = "pipeline"


@dataclass
class Lakes:
    before: Path  # the first part ingested and run
    after: Path  # a copy of it (same lake id) with the next part ingested and run


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lakes]:
    folder = tmp_path_factory.mktemp("pipeline")
    first, rest = two_parts(folder, rows=3000)
    before, after = folder / "before", folder / "after"
    ok(retail_env("ingest", first, lake=before))
    ok(retail_env("run", lake=before))
    shutil.copytree(before, after)
    ok(retail_env("ingest", rest, lake=after))
    ok(retail_env("run", lake=after))
    yield Lakes(before, after)


@pytest.fixture(scope="module")
def dsn(pg: Cluster) -> str:
    return create_database(pg, DB)


def _differences(pg: Cluster, left: str, right: str) -> dict[str, int]:
    found = {}
    for table in (t.name for t in GOLD_TABLES):
        found[table] = int(
            pg.psql(
                f"SELECT (SELECT count(*) FROM (SELECT * FROM {left}.{table} EXCEPT ALL "
                f"SELECT * FROM {right}.{table}) a) + (SELECT count(*) FROM (SELECT * FROM "
                f"{right}.{table} EXCEPT ALL SELECT * FROM {left}.{table}) b)",
                dbname=DB,
            )
        )
    return found


def test_append_pipelined_or_in_line_encoded_or_streamed_equals_full(
    pg: Cluster, dsn: str, lakes: Lakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.publish import incremental, postgres
    from retail_lakehouse.publish.target import Target

    variants = {
        "pipelined": (True, incremental.ENCODE_AHEAD_ROWS, True),
        "in_line": (False, incremental.ENCODE_AHEAD_ROWS, True),
        "streamed": (True, 0, True),  # nothing encoded ahead: rows streamed, keys staged
        "replaced": (True, incremental.ENCODE_AHEAD_ROWS, False),  # changed rows deleted
    }
    reports = {}
    monkeypatch.setattr(incremental, "IN_PLACE_MIN_ROWS", 0)  # the small lakes change few rows
    for schema, (pipeline, ahead, in_place) in variants.items():
        monkeypatch.setattr(incremental, "PIPELINE", pipeline)
        monkeypatch.setattr(incremental, "ENCODE_AHEAD_ROWS", ahead)
        monkeypatch.setattr(incremental, "UPDATE_IN_PLACE", in_place)
        postgres.publish(Lake(lakes.before), Target(dsn, schema))
        report = postgres.publish(Lake(lakes.after), Target(dsn, schema))
        assert report.mode == "incremental"
        changed = [n for n, r in report.tables.items() if r.action != "unchanged"]
        assert set(report.background) == {f"prepare {n}" for n in changed}
        reports[schema] = {n: (r.rows_written, r.rows_deleted) for n, r in report.tables.items()}
    postgres.publish(Lake(lakes.after), Target(dsn, "complete"), full=True)

    assert reports["pipelined"] == reports["in_line"] == reports["streamed"]
    assert reports["pipelined"]["fact_sales"][0] > 0  # the append did reach the fact
    # and changed dimension rows: updated in place (written, not deleted), or replaced
    written, deleted = reports["pipelined"]["dim_product"]
    assert written > 0
    replaced_written, replaced_deleted = reports["replaced"]["dim_product"]
    assert replaced_written == written and replaced_deleted > deleted  # updates: fewer deletes
    zero = {t.name: 0 for t in GOLD_TABLES}
    for schema in variants:
        assert _differences(pg, schema, "complete") == zero, schema
    validated = pg.psql(
        "SELECT count(*) FILTER (WHERE convalidated) || '/' || count(*) FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = 'pipelined'::regnamespace",
        dbname=DB,
    )
    assert validated == "6/6"
    factors = pg.psql(
        "SELECT relname || ':' || coalesce(array_to_string(reloptions, ','), '') FROM pg_class "
        "WHERE relnamespace = 'pipelined'::regnamespace AND relkind = 'r' ORDER BY 1",
        dbname=DB,
    ).split()
    expected = [f"{t.name}:{'' if t is FACT_SALES else 'fillfactor=50'}" for t in GOLD_TABLES]
    assert sorted(expected) == [f for f in factors if not f.startswith("_retail")]
    hot = "0"  # the in-place updates were heap-only (statistics arrive when a backend ends)
    for _ in range(50):
        hot = pg.psql(
            "SELECT coalesce(sum(n_tup_hot_upd), 0) FROM pg_stat_user_tables "
            "WHERE schemaname = 'pipelined' AND relname <> '_retail_publish'",
            dbname=DB,
        )
        if hot != "0":
            break
        time.sleep(0.1)
    assert int(hot) > 0


def test_a_failure_on_the_lake_side_rolls_the_publish_back(
    pg: Cluster, dsn: str, lakes: Lakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from retail_lakehouse.lake import Lake
    from retail_lakehouse.publish import incremental, postgres
    from retail_lakehouse.publish.target import Target

    postgres.publish(Lake(lakes.after), Target(dsn, "complete_too"), full=True)
    target = Target(dsn, "failing")
    postgres.publish(Lake(lakes.before), target)
    before = content_digest(pg, DB, "failing")
    prepare = incremental.prepare

    def fail_on_the_fact(lake: object, con: object, change: incremental.Change) -> object:
        if change.table.name == FACT_SALES.name:
            raise RuntimeError("the lake side failed")
        return prepare(lake, con, change)  # type: ignore[arg-type]

    monkeypatch.setattr(incremental, "prepare", fail_on_the_fact)
    with pytest.raises(RuntimeError, match="the lake side failed"):
        postgres.publish(Lake(lakes.after), target)
    assert content_digest(pg, DB, "failing") == before  # dimensions applied first: rolled back
    assert not [t for t in threading.enumerate() if t.name.startswith("retail-publish-lake")]

    monkeypatch.setattr(incremental, "prepare", prepare)
    assert postgres.publish(Lake(lakes.after), target).mode == "incremental"
    assert _differences(pg, "failing", "complete_too") == {t.name: 0 for t in GOLD_TABLES}


def test_fingerprints_from_the_delta_log_equal_counting_or_are_not_used(
    lakes: Lakes, tmp_path: Path
) -> None:
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.query import LakeSQL
    from retail_lakehouse.publish.incremental import _fingerprints_from_log, batch_fingerprints

    lake = Lake(lakes.after)
    with LakeSQL(lake, tables=[FACT_SALES.qualified]) as lake_sql:
        counted = batch_fingerprints(lake_sql.con, FACT_SALES.qualified)
    assert len(counted) >= 2
    assert _fingerprints_from_log(lake.delta(FACT_SALES.qualified)) == counted

    run_a, run_b = "20261204T100000-aaaaaaaa", "20261204T110000-bbbbbbbb"
    one_file_a_batch = tmp_path / "exact"
    rows = {"_batch_seq": [1, 1, 2], "_run_id": [run_a, None, run_b], "x": [1, 2, 3]}
    for seq in (1, 2):
        part = pa.table(rows).filter(pc.equal(pa.table(rows)["_batch_seq"], seq))
        write_deltalake(one_file_a_batch, part, mode="append")
    assert _fingerprints_from_log(DeltaTable(one_file_a_batch)) == {
        "1": f"2:{run_a}:{run_a}",
        "2": f"1:{run_b}:{run_b}",
    }
    mixed = tmp_path / "mixed"  # one file holding two batches: the log cannot say
    write_deltalake(mixed, pa.table(rows))
    assert _fingerprints_from_log(DeltaTable(mixed)) is None
    other_ids = tmp_path / "other_ids"  # not whole run ids: statistics may be cut short
    write_deltalake(other_ids, pa.table({"_batch_seq": [1], "_run_id": ["r" * 40]}))
    assert _fingerprints_from_log(DeltaTable(other_ids)) is None


def test_keys_bound_as_arrays_survive_any_text(pg: Cluster) -> None:
    import psycopg

    from retail_lakehouse.lake.contracts import TableContract
    from retail_lakehouse.publish.incremental import _key_arrays

    awkward = ["plain", 'a "quoted" one', "back\\slash", "comma, {brace}", "NULL", " ", "é€"]
    contract = TableContract(
        "gold", "keys", pa.schema([("k", pa.string()), ("n", pa.int64())]), primary_key=("k", "n")
    )
    con = duckdb.connect()
    con.execute("CREATE TABLE diff (k VARCHAR, n BIGINT, _retail_side INTEGER)")
    con.executemany("INSERT INTO diff VALUES (?, ?, 0)", [(k, i) for i, k in enumerate(awkward)])
    con.execute("INSERT INTO diff VALUES ('new', 99, 1)")
    texts, numbers = _key_arrays(con, contract, "diff")
    with psycopg.connect(pg.dsn()) as conn:
        found = conn.execute(
            "SELECT k, n FROM unnest(%s::text[], %s::bigint[]) AS g(k, n) ORDER BY n",
            [texts, numbers],
        ).fetchall()
    assert found == [(k, i) for i, k in enumerate(awkward)]


def test_dimension_keys_that_vanish_keep_the_per_row_checks() -> None:
    from retail_lakehouse.publish.incremental import DIFF_SCHEMA, _lake_diff

    con = duckdb.connect()
    con.execute(f'CREATE SCHEMA "{DIFF_SCHEMA}"')
    names = DIM_PRODUCT.schema.names
    key = DIM_PRODUCT.primary_key[0]

    def view(name: str, keys: list[int], changed: int | None = None) -> None:
        columns = ", ".join(
            f"k AS {c}"
            if c == key
            else (
                f"CASE WHEN k = {changed or -1} THEN 'new' ELSE 'old' END AS {c}"
                if c == "description"
                else f"NULL AS {c}"
            )
            for c in names
        )
        con.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT {columns} FROM (SELECT unnest({keys}) AS k)"
        )

    con.execute("CREATE SCHEMA gold")
    view("previous", [1, 2, 3])
    view("gold.dim_product", [1, 2, 3], changed=2)  # an attribute changed: key 2 comes back
    kept = _lake_diff(con, DIM_PRODUCT, "previous", DIM_PRODUCT.qualified)
    assert (kept.gone, kept.new, kept.keys_kept, kept.updated) == (1, 1, True, 1)
    kept.in_place = True  # the changed row is updated: nothing deleted, nothing inserted
    assert (kept.to_delete, kept.to_insert) == (0, 0)
    view("gold.dim_product", [1, 2], changed=2)  # key 3 vanished: the fact may point at it
    vanished = _lake_diff(con, DIM_PRODUCT, "previous", DIM_PRODUCT.qualified)
    assert (vanished.gone, vanished.new, vanished.keys_kept, vanished.updated) == (2, 1, False, 1)
    vanished.in_place = True  # key 3 deleted, key 2 updated
    assert (vanished.to_delete, vanished.to_insert) == (1, 0)
    gone = f"SELECT {key} FROM {vanished.diff} {vanished.delete_where}"
    assert con.execute(gone).fetchall() == [(3,)]


def test_new_fact_keys_missing_from_a_dimension_fail_the_check(
    pg: Cluster, dsn: str, lakes: Lakes
) -> None:
    import psycopg

    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.query import LakeSQL
    from retail_lakehouse.publish import incremental, postgres
    from retail_lakehouse.publish.target import PublishFailed, Target

    postgres.publish(Lake(lakes.after), Target(dsn, "keys"), full=True)
    with LakeSQL(Lake(lakes.after), tables=[FACT_SALES.qualified]) as lake_sql:
        arrays = incremental.reference_arrays(lake_sql.con, FACT_SALES, FACT_SALES.qualified)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        incremental.check_new_keys(cur, "keys", FACT_SALES, arrays)  # every key is there
        columns = [column for column, _ in FACT_SALES.references]
        customers = columns.index("customer_key")
        arrays[customers] = arrays[customers][:-1] + ',"123456789"}'
        with pytest.raises(PublishFailed, match="1 customer_key not in dim_customer"):
            incremental.check_new_keys(cur, "keys", FACT_SALES, arrays)


def test_versions_and_lake_id_from_the_log_equal_opening_the_table(
    lakes: Lakes, tmp_path: Path
) -> None:
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.fingerprint import latest_version
    from retail_lakehouse.publish.postgres import lake_identity

    lake = Lake(lakes.after)
    bronze = lake.delta("bronze.sales_lines")
    assert bronze is not None and lake_identity(lake) == bronze.metadata().id  # first commit
    for table in GOLD_TABLES:
        found = latest_version(lake.path(table.qualified))
        assert found == lake.version(table.qualified), table.name
    assert latest_version(lake.path("gold.no_such_table")) is None

    checkpointed = Lake(tmp_path)  # a checkpoint, then its older commits removed
    path = checkpointed.path("gold.t")
    for n in range(4):
        write_deltalake(path, pa.table({"x": [n]}), mode="append")
    DeltaTable(path).create_checkpoint()
    for old in ("00000000000000000000.json", "00000000000000000001.json"):
        (path / "_delta_log" / old).unlink()
    (path / "_delta_log" / "_commit_tmp.json.tmp").write_text("")  # never a version
    assert latest_version(path) == DeltaTable(path).version() == 3
    write_deltalake(path, pa.table({"x": [4]}), mode="append")
    assert latest_version(path) == DeltaTable(path).version() == 4


def test_lake_diff_is_exact_with_nulls_and_equals_grouping_every_column() -> None:
    """The diff joins the snapshots on the primary key and compares the other columns with
    ``IS DISTINCT FROM``: NULL against NULL is no change, NULL against a value is one, and the
    rows found are those of stacking both snapshots and grouping by every column."""
    from retail_lakehouse.publish.incremental import DIFF_SCHEMA, _lake_diff

    con = duckdb.connect()
    con.execute(f'CREATE SCHEMA "{DIFF_SCHEMA}"')
    con.execute("CREATE SCHEMA gold")
    names = DIM_PRODUCT.schema.names
    key = DIM_PRODUCT.primary_key[0]

    def view(name: str, rows: dict[int, str | None]) -> None:
        values = ", ".join(
            f"({k}, {'NULL' if v is None else repr(v)})" for k, v in sorted(rows.items())
        )
        columns = ", ".join(
            f"k AS {c}"
            if c == key
            else ("d AS description" if c == "description" else f"NULL AS {c}")
            for c in names
        )
        con.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT {columns} FROM (VALUES {values}) v(k, d)"
        )

    view("previous", {1: None, 2: None, 3: "a", 4: "b", 5: "gone"})
    view("gold.dim_product", {1: None, 2: "now", 3: None, 4: "b", 6: "new"})
    found = _lake_diff(con, DIM_PRODUCT, "previous", DIM_PRODUCT.qualified)
    assert (found.gone, found.new, found.updated, found.keys_kept) == (3, 3, 2, False)
    rows = con.execute(
        f"SELECT {key}, description, _retail_side, _retail_both FROM {found.diff} ORDER BY 1, 3"
    ).fetchall()
    assert rows == [
        (2, None, 0, True),
        (2, "now", 1, True),
        (3, "a", 0, True),
        (3, None, 1, True),
        (5, "gone", 0, False),
        (6, "new", 1, False),
    ]
    columns = ", ".join(names)
    grouped = con.execute(
        f"SELECT {columns}, max(s) FROM (SELECT {columns}, 0 AS s FROM previous UNION ALL "
        f"SELECT {columns}, 1 FROM gold.dim_product) GROUP BY ALL HAVING min(s) = max(s) "
        f"EXCEPT SELECT {columns}, _retail_side FROM {found.diff}"
    ).fetchall()
    assert grouped == []


def test_diff_reads_only_the_files_the_snapshots_do_not_share(tmp_path: Path) -> None:
    """A table with a primary key is diffed on the data files one snapshot has and the other
    not (decision 0014, seventh addendum): an append-only commit leaves no old side (every row
    new, nothing joined), a rewritten file is compared with its replacement, and the rows
    found are those of diffing the whole snapshots."""
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.contracts import TableContract
    from retail_lakehouse.lake.location import data_files
    from retail_lakehouse.lake.query import snapshot_relation_sql
    from retail_lakehouse.publish.incremental import (
        DIFF_SCHEMA,
        _lake_diff,
        _previous_snapshot,
        log_changes,
    )

    contract = TableContract(
        "gold", "t", pa.schema([("k", pa.int64()), ("v", pa.string())]), primary_key=("k",)
    )
    lake = Lake(tmp_path)
    path = lake.path(contract.qualified)
    write_deltalake(path, pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]}))  # version 0
    write_deltalake(path, pa.table({"k": [4, 5], "v": ["d", "e"]}), mode="append")  # 1
    write_deltalake(path, pa.table({"k": [6], "v": ["f"]}), mode="append")  # 2: append only
    DeltaTable(path).update({"v": "'E'"}, predicate="k = 5")  # 3: the second file rewritten
    DeltaTable(path).delete("k = 4")  # 4: that file rewritten again, a key gone
    con = duckdb.connect()
    con.execute(f'CREATE SCHEMA "{DIFF_SCHEMA}"')
    con.execute("CREATE SCHEMA gold")

    def rows(diff: str) -> list[tuple[object, ...]]:
        return con.execute(f"SELECT * FROM {diff} ORDER BY _retail_side, k").fetchall()

    def whole(version: int) -> str:
        table = lake.delta(contract.qualified, version)
        assert table is not None
        return f"(SELECT k, v FROM {snapshot_relation_sql(data_files(table))})"

    for published, now, expected in (
        (1, 2, [(6, "f", 1, False)]),
        (2, 3, [(5, "e", 0, True), (5, "E", 1, True)]),
        (1, 4, [(4, "d", 0, False), (5, "e", 0, True), (5, "E", 1, True), (6, "f", 1, False)]),
        (4, 4, []),
    ):
        current = lake.delta(contract.qualified, now)
        con.execute(
            f"CREATE OR REPLACE VIEW gold.t AS SELECT * FROM "
            f"{snapshot_relation_sql(data_files(current))}"
        )
        sides = _previous_snapshot(lake, con, contract, published, current)
        assert sides is not None
        if published == 1 and now == 2:
            assert sides[0] is None  # append only: no old side to read
        found = rows(_lake_diff(con, contract, *sides).diff or "")
        assert found == expected, (published, now)
        assert rows(_lake_diff(con, contract, whole(published), whole(now)).diff or "") == found
        logged = log_changes(path, published, now)  # the same files, from the commits alone
        assert (logged is None) == (published == now)
        if logged is not None:
            sides = _previous_snapshot(lake, con, contract, published, None, logged)
            assert sides is not None
            assert rows(_lake_diff(con, contract, *sides).diff or "") == expected

    # the log cannot tell: a schema change, a commit file gone
    write_deltalake(
        path, pa.table({"k": [7], "v": ["g"], "w": [1]}), mode="append", schema_mode="merge"
    )
    assert log_changes(path, 4, 5) is None
    (path / "_delta_log" / f"{3:020d}.json").unlink()
    assert log_changes(path, 1, 4) is None and log_changes(path, 3, 4) is not None
