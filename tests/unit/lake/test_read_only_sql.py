"""``retail sql`` is read-only by construction: each hostile statement is refused (or fails on
the engine's own file-access guard), and the lake is byte-identical afterwards."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL, ReadOnlyQueryError
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline.bronze import ingest_files
from tests import hostile_files as hostile
from tests.conftest import run_retail


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("ro")
    lake = Lake(root / "lake")
    with recorded_run(lake, "ingest") as run:
        ingest_files(lake, [hostile.good_csv(root / "a.csv")], run)
    return lake


def hostile_statements(lake: Lake, outside: Path) -> list[str]:
    data_file = Path(lake.snapshot_files("bronze.sales_lines")[0].removeprefix("file://"))
    target = str(data_file).replace("'", "''")
    return [
        f"EXPLAIN ANALYZE COPY\n(SELECT 1 AS x) TO '{target}' (FORMAT parquet)",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{outside}/copied.csv'",
        "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
        "EXPLAIN SELECT 1",
        f"COPY (SELECT * FROM bronze.sales_lines) TO '{outside}/dump.csv'",
        f"COPY bronze.sales_lines FROM '{outside}/secret.txt'",
        f"ATTACH '{outside}/new.duckdb' AS x",
        f"ATTACH '{lake.root}/x.duckdb'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA enable_profiling",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "CALL pragma_version()",
        f"EXPORT DATABASE '{outside}/export'",
        "CREATE VIEW bronze.v AS SELECT 1",
        "DROP VIEW bronze.sales_lines",
        "INSERT INTO bronze.sales_lines (invoice_no) VALUES ('x')",
        "SELECT 1; DROP VIEW bronze.sales_lines",
        "SELECT 1; SELECT 2",
        f"SELECT * FROM read_text('{outside}/secret.txt')",
        f"SELECT * FROM read_csv('{outside}/secret.txt')",
        f"SELECT * FROM read_blob('{lake.root}/.writer.lock')",
        f"SELECT * FROM read_text('{lake.root}/_delta_log_not_here/../bronze/sales_lines/"
        "_delta_log/00000000000000000000.json')",
        "SELECT * FROM glob('/etc/*')",
        f"SELECT * FROM query('COPY (SELECT 1) TO ''{outside}/q.csv''')",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
        "SELECT load_extension('httpfs')",
    ]


def test_hostile_statements_leave_the_lake_byte_identical(lake: Lake, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("a secret\n")
    before = hostile.lake_fingerprint(lake.root)
    outcomes = {}
    for statement in hostile_statements(lake, tmp_path):
        with LakeSQL(lake) as sql:
            try:
                sql.user_query(statement)
                outcomes[statement] = "ran"
            except ReadOnlyQueryError:
                outcomes[statement] = "refused"
            except duckdb.Error as error:
                outcomes[statement] = type(error).__name__
        assert hostile.lake_fingerprint(lake.root) == before, statement
    assert "ran" not in outcomes.values(), [s for s, o in outcomes.items() if o == "ran"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]
    with LakeSQL(lake) as sql:  # and reading the lake still works
        assert sql.user_query("SELECT count(*) AS n FROM bronze.sales_lines")["n"][0].as_py() == 3


def test_the_cli_refuses_them_with_exit_2(lake: Lake, tmp_path: Path) -> None:
    before = hostile.lake_fingerprint(lake.root)
    target = lake.snapshot_files("bronze.sales_lines")[0].removeprefix("file://")
    copy = run_retail("sql", f"EXPLAIN ANALYZE COPY\n(SELECT 1) TO '{target}'", lake=lake.root)
    assert copy.code == 2 and "only SELECT queries are allowed, not EXPLAIN" in copy.stderr
    read = run_retail("sql", "SELECT * FROM read_text('/etc/hostname')", lake=lake.root)
    assert read.code == 2 and "file system operations are disabled" in read.stderr
    assert hostile.lake_fingerprint(lake.root) == before
    count = run_retail(
        "sql", "SELECT count(*) AS n FROM bronze.sales_lines", "-f", "json", lake=lake.root
    )
    assert count.code == 0 and count.json() == [{"n": 3}]
