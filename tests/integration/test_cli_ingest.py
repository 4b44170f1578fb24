"""``retail ingest`` from the user's side: the real command on real and broken files."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REAL_FILES, RetailCli


def count(retail: RetailCli, lake: Path, sql: str) -> int:
    result = retail("sql", sql, "--format", "json", lake=lake)
    assert result.code == 0, result.stderr
    rows = result.json()
    return int(next(iter(rows[0].values())))


def test_real_files_ingest_row_for_row_and_twice_changes_nothing(
    retail: RetailCli, lake_dir: Path, real_files: list[Path]
) -> None:
    first = retail("ingest", *real_files, lake=lake_dir)
    assert first.code == 0, first.stderr
    assert count(retail, lake_dir, "SELECT count(*) FROM bronze.sales_lines") == 2169
    for path in real_files:
        n = count(
            retail,
            lake_dir,
            f"SELECT count(*) FROM bronze.sales_lines WHERE _source_file = '{path}'",
        )
        assert n == REAL_FILES[path.name]
    assert count(retail, lake_dir, "SELECT count(*) FROM bronze.rejects") == 0
    versions = retail("status", "--json", lake=lake_dir).json()["tables"]

    second = retail("ingest", *real_files, lake=lake_dir)
    assert second.code == 0, second.stderr
    assert second.stdout.count("skipped") == 3
    assert count(retail, lake_dir, "SELECT count(*) FROM bronze.sales_lines") == 2169
    after = retail("status", "--json", lake=lake_dir).json()["tables"]
    assert {k: v["version"] for k, v in after.items() if k.startswith("bronze.")} == {
        k: v["version"] for k, v in versions.items() if k.startswith("bronze.")
    }


def test_values_are_kept_exactly_as_read(
    retail: RetailCli, lake_dir: Path, real_files: list[Path]
) -> None:
    assert retail("ingest", *real_files, lake=lake_dir).code == 0
    rows = retail(
        "sql",
        "SELECT invoice_no, invoice_date, unit_price, customer_id, _row_number, _source_file "
        "FROM bronze.sales_lines ORDER BY _batch_seq, _row_number",
        "--format",
        "json",
        lake=lake_dir,
    ).json()
    by_file: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_file.setdefault(Path(row["_source_file"]).name, []).append(row)
    short = by_file["online_retail_head_999_short_dates.csv"][0]
    assert short["invoice_date"] == "12/1/10 8:26"
    bom = by_file["online_retail_ii_head_99_bom.csv"][0]
    assert bom["invoice_no"] == "536365" and bom["invoice_date"] == "12/1/2010 08:26"
    first = by_file["online_retail_head_1071.csv"]
    assert first[0]["_row_number"] == 2 and first[-1]["_row_number"] == 1072
    assert first[0]["unit_price"] == "2.55" and first[0]["customer_id"] == "17850"


def test_lineage_columns_are_filled(
    retail: RetailCli, lake_dir: Path, real_files: list[Path]
) -> None:
    assert retail("ingest", real_files[0], lake=lake_dir).code == 0
    row = retail(
        "sql",
        "SELECT count(DISTINCT _record_hash) AS hashes, count(DISTINCT _batch_id) AS batches, "
        "min(_schema_version) AS v, count(*) FILTER (WHERE _ingested_at IS NULL) AS no_time, "
        "min(length(_source_sha256)) AS sha FROM bronze.sales_lines",
        "--format",
        "json",
        lake=lake_dir,
    ).json()[0]
    assert row["batches"] == 1 and row["v"] == 1 and row["no_time"] == 0 and row["sha"] == 64
    assert row["hashes"] > 1000  # exact duplicates share a hash, distinct lines do not


def test_sql_refuses_writes_and_reports_bad_sql(retail: RetailCli, lake_dir: Path) -> None:
    lake_dir.mkdir()  # an empty lake: `retail sql` refuses a lake folder that does not exist
    for statement in (
        "DELETE FROM bronze.sales_lines",
        "DROP TABLE meta.runs",
        "SELECT 1; SELECT 2",
    ):
        result = retail("sql", statement, lake=lake_dir)
        assert result.code == 2
        assert "refused" in result.stderr
        assert "Traceback" not in result.stderr
    bad = retail("sql", "SELEC nonsense", lake=lake_dir)
    assert bad.code == 2 and "Traceback" not in bad.stderr


def test_ingest_is_recorded_in_meta_runs(
    retail: RetailCli, lake_dir: Path, real_files: list[Path]
) -> None:
    assert retail("ingest", *real_files, lake=lake_dir).code == 0
    runs = retail(
        "sql", "SELECT command, status, rows FROM meta.runs", "--format", "json", lake=lake_dir
    ).json()
    assert len(runs) == 1
    assert runs[0]["command"] == "ingest" and runs[0]["status"] == "succeeded"
    assert '"out": 2169' in runs[0]["rows"]


def test_ingesting_the_project_folder_leaves_the_lakes_own_files_alone(tmp_path: Path) -> None:
    """``retail ingest .`` in a project (lake/ and landing/ inside) ingested the lake's own
    bronze Parquet files as new sales files (bronze widened for good with x__source_file...
    columns) and tried its logs and Delta log JSON; a leftover decompressed copy
    (``*.input.csv``) of an interrupted ingest would have been taken too."""
    import gzip
    import shutil

    from tests.conftest import REAL_DATA, run_retail

    project = tmp_path / "shop"
    assert run_retail("init", project).code == 0
    sample = REAL_DATA / "online_retail_ii_head_99_bom.csv"
    shutil.copy(sample, project / "landing")
    first = run_retail("ingest", "landing", cwd=project)
    assert first.code == 0, first.stderr[-2000:]
    leftover = project / "lake" / "bronze" / "sales_lines" / "part-x-c000.snappy.parquet.input.csv"
    leftover.write_bytes(gzip.decompress(gzip.compress(sample.read_bytes())))
    again = run_retail("ingest", ".", cwd=project)
    assert "lake/" not in again.stdout + again.stderr, again.stdout[-3000:]
    files = run_retail("sql", "SELECT _source_file FROM bronze.files", "-f", "json", cwd=project)
    assert files.json() == [{"_source_file": "landing/online_retail_ii_head_99_bom.csv"}]
    named = run_retail("ingest", leftover, cwd=project)
    assert named.code == 2 and "the lake's own" in named.stderr, named.stderr[-2000:]
