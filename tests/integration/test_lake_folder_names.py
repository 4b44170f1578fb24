"""Lake folders with unusual names, from the user's side.

Spaces, ``#``, ``?``, an apostrophe, accents and braces work from ingest to the API. Names that
Delta Lake's library (delta-rs) cannot open (a literal ``%20``, ``[``, ``|``, a backslash, a
control character) are refused when the command starts, with the reason and exit 2, before
anything is written: before, ``retail ingest`` printed "internal error: DeltaError: Kernel
error: File not found: .../x y/lake/..." (delta-rs decodes ``%20`` in a local path) or, for
``[``, a Rust panic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_retail
from tests.integration.api.live import serve


def test_a_lake_in_a_folder_with_spaces_hash_question_mark_accent_and_apostrophe_works(
    tmp_path: Path, real_files: list[Path]
) -> None:
    lake = tmp_path / "sales {2026} #1? café's @ home" / "lake"
    ingested = run_retail("ingest", real_files[0], lake=lake)
    assert ingested.code == 0, ingested.stderr[-2000:]
    first_run = json.loads(run_retail("history", "--json", lake=lake).stdout)[0]["run_id"]
    ran = run_retail("run", "--engine", "duckdb", lake=lake)
    assert ran.code == 0, ran.stderr[-2000:]
    status = run_retail("status", lake=lake)
    assert status.code == 0, status.stderr[-2000:]
    counted = run_retail("sql", "SELECT count(*) AS n FROM bronze.sales_lines", lake=lake)
    assert counted.code == 0, counted.stderr[-2000:]
    for command in (("optimize",), ("vacuum",)):
        done = run_retail(*command, lake=lake)
        assert done.code == 0, f"{command}: {done.stderr[-2000:]}"
    with serve(lake) as server:
        response = server.client("viewer").get("/api/v1/kpis")
        assert response.status_code == 200, response.text
    undone = run_retail("rollback", "--to-run", first_run, "--yes", lake=lake)
    assert undone.code == 0, undone.stderr[-2000:]
    after = run_retail("status", lake=lake)
    assert after.code == 0, after.stderr[-2000:]


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("x%20y", "%20"),
        ("Q%3F", "%3F"),
        ("a[1]", "["),
        ("a|b", "|"),
        ("a\\b", "\\"),
        ("a\tb", "tab"),
    ],
)
def test_a_lake_folder_delta_lake_cannot_open_is_refused_at_start(
    tmp_path: Path, real_files: list[Path], name: str, named: str
) -> None:
    lake = tmp_path / name / "lake"
    done = run_retail("ingest", real_files[0], lake=lake)
    assert done.code == 2, done.stderr[-2000:]
    assert "internal error" not in done.stderr
    assert named in done.stderr and "Delta Lake" in done.stderr, done.stderr
    assert not lake.exists()  # nothing written, nothing to undo


def test_the_working_folder_counts_too(tmp_path: Path, real_files: list[Path]) -> None:
    """The default ``./lake`` inside a folder named ``x%20y`` is refused the same way."""
    folder = tmp_path / "x%20y"
    folder.mkdir()
    done = run_retail("ingest", real_files[0], cwd=folder)
    assert done.code == 2, done.stderr[-2000:]
    assert "%20" in done.stderr and "internal error" not in done.stderr
    assert not (folder / "lake").exists()


def test_a_file_uri_naming_such_a_folder_is_refused_too(
    tmp_path: Path, real_files: list[Path]
) -> None:
    uri = (tmp_path / "x%20y" / "lake").as_uri()  # file:///.../x%2520y/lake
    done = run_retail("--lake", uri, "ingest", real_files[0])
    assert done.code == 2, done.stderr[-2000:]
    assert "%20" in done.stderr and "internal error" not in done.stderr
    assert not (tmp_path / "x%20y").exists()


def test_init_refuses_a_project_folder_delta_lake_cannot_open(tmp_path: Path) -> None:
    """``retail init`` made ``shop[1]/`` with retail.toml and lake/ (exit 0), and then every
    command in it was refused: say so before creating anything."""
    project = tmp_path / "shop[1]"
    done = run_retail("init", project, cwd=tmp_path)
    assert done.code == 2, done.stdout + done.stderr[-2000:]
    assert "[" in done.stderr and "Delta Lake" in done.stderr, done.stderr
    assert not project.exists()
    fine = run_retail("init", tmp_path / "shop #1 café's", cwd=tmp_path)
    assert fine.code == 0, fine.stderr[-2000:]


def test_commands_without_a_lake_still_work_in_such_a_working_folder(tmp_path: Path) -> None:
    """The default ``./lake`` of a working folder named ``x%20y`` is refused, but only where a
    lake is used: ``retail init`` elsewhere, ``retail generate`` and ``--help`` worked before
    the check and must keep working (they were refused with the lake's reason)."""
    folder = tmp_path / "x%20y"
    folder.mkdir()
    made = run_retail("init", tmp_path / "shop", cwd=folder)
    assert made.code == 0, made.stderr[-2000:]
    out = tmp_path / "sample.csv"
    generated = run_retail("generate", "--rows", "10", "--out", out, cwd=folder)
    assert generated.code == 0, generated.stderr[-2000:]
    assert out.exists()
    helped = run_retail("ingest", "--help", cwd=folder)
    assert helped.code == 0 and "--cdc" in helped.stdout, helped.stderr[-2000:]
    refused = run_retail("status", cwd=folder)
    assert refused.code == 2 and "%20" in refused.stderr, refused.stderr[-2000:]


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.soak  # a Spark build: `make soak`, with the other odd-folder runs
def test_spark_and_duckdb_build_the_same_lake_under_glob_partition_percent_and_colon_folders(
    tmp_path: Path, real_files: list[Path]
) -> None:
    """``{2026}``, ``?`` and ``*`` are glob syntax for Spark's reader, ``x=1`` its partition
    discovery's, ``50% off`` has a ``%`` not followed by two hex digits (Hadoop's ``Path``
    escapes it), ``a:b`` a colon (Hadoop's ``Path`` takes a lone segment ``a:b`` for a URI).
    Each alone worked; all of them in one path made ``retail run --engine spark`` exit 1 with
    "Relative path in absolute URI: a:b": the escaped glob characters still made the path a
    pattern, and Hadoop's glob rebuilds a pattern segment by segment. The tables are the same as
    DuckDB's, with and without the folders in the path (decision 0016, addendum on folder
    names)."""
    from tests.integration.test_parity_cli import TABLES, rows_of

    odd = tmp_path / "sales {2026} #1? café's @ home *" / "x=1" / "50% off" / "a:b"
    built = {}
    for engine, lake in (
        ("duckdb", tmp_path / "plain" / "lake"),
        ("spark", odd / "lake"),
        ("duckdb", odd / "duckdb"),
    ):
        ingested = run_retail("ingest", real_files[2], lake=lake)
        assert ingested.code == 0, ingested.stderr[-2000:]
        ran = run_retail("run", "--engine", engine, lake=lake)
        assert ran.code == 0, (engine, lake, ran.stderr[-2000:])
        built[lake] = [rows_of(lake, t.qualified) for t in TABLES]
    reference, *others = built.values()
    assert len(reference[0]) > 50  # silver.sales_lines has the file's rows
    for other in others:
        assert other == reference
    counted = run_retail(
        "sql", "SELECT count(*) AS n FROM silver.sales_lines", "-f", "json", lake=odd / "lake"
    )
    assert counted.code == 0 and counted.json()[0]["n"] > 50, counted.stderr[-2000:]


def test_a_relative_lake_folder_with_a_colon_is_told_how_to_give_it(
    tmp_path: Path, real_files: list[Path]
) -> None:
    """``--lake sales:2026`` reads like a URI scheme and is refused (exit 2, nothing written);
    the message says to give it as ``./sales:2026``, which works."""
    refused = run_retail("--lake", "sales:2026", "ingest", real_files[2], cwd=tmp_path)
    assert refused.code == 2, refused.stderr[-2000:]
    assert "give ./sales:2026" in refused.stderr, refused.stderr
    assert not (tmp_path / "sales:2026").exists()
    done = run_retail("--lake", "./sales:2026", "ingest", real_files[2], cwd=tmp_path)
    assert done.code == 0, done.stderr[-2000:]
    assert (tmp_path / "sales:2026" / "bronze").is_dir()


def test_a_lake_under_a_key_value_folder_gains_no_column(
    tmp_path: Path, real_files: list[Path]
) -> None:
    """DuckDB takes ``key=value`` folders in the paths it reads for partition columns: every
    table of a lake under ``x=1`` showed a column ``x`` (``SELECT *`` in ``retail sql``, the
    views of every reader), though no table has one."""
    lake = tmp_path / "x=1" / "lake"
    ingested = run_retail("ingest", real_files[2], lake=lake)
    assert ingested.code == 0, ingested.stderr[-2000:]
    shown = run_retail("sql", "SELECT * FROM bronze.sales_lines LIMIT 1", "-f", "json", lake=lake)
    assert shown.code == 0, shown.stderr[-2000:]
    assert "x" not in shown.json()[0] and "invoice_no" in shown.json()[0], shown.stdout


def test_spark_connect_refuses_a_lake_under_glob_characters_and_a_colon_at_start(
    tmp_path: Path, real_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local Spark reads such a lake file by file with globbing off; Spark Connect lower-cases
    the name of that reader option, so Hadoop's glob failed on ``a:b`` ("Path does not exist"
    after the run had started). Refused before the session opens (no server is needed to see
    it), exit 2, no table written but the failed run's record; DuckDB runs the same lake."""
    pytest.importorskip("pyspark")
    lake = tmp_path / "sales {2026} *" / "a:b" / "lake"
    ingested = run_retail("ingest", real_files[2], lake=lake)
    assert ingested.code == 0, ingested.stderr[-2000:]
    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:9")
    refused = run_retail("run", "--engine", "spark", lake=lake)
    assert refused.code == 2, refused.stderr[-2000:]
    assert "internal error" not in refused.stderr
    assert "Spark Connect" in refused.stderr and "a:b" in refused.stderr, refused.stderr
    runs = json.loads(run_retail("history", "--json", lake=lake).stdout)
    assert [r["status"] for r in runs] == ["failed", "succeeded"]  # as for an unreachable Spark
    assert not (lake / "silver").exists() and not (lake / "gold").exists()
    monkeypatch.delenv("SPARK_REMOTE")
    ran = run_retail("run", "--engine", "duckdb", lake=lake)
    assert ran.code == 0, ran.stderr[-2000:]


def test_a_lake_inside_another_lake_s_table_is_refused_before_it_is_written(
    tmp_path: Path,
) -> None:
    """``--lake outer/gold/fact_sales/inner``: the ingest made a lake there, and the outer
    lake's next ``retail vacuum`` deleted every file of it (the Delta table's folder holds only
    what its log references: 13 files, the inner lake's log and data among them; sixteenth
    round's audit). A lake inside a Delta table's folder is refused (exit 2, naming the table),
    before anything is written there."""
    source = tmp_path / "s.csv"
    assert run_retail("generate", "--rows", "30", "--out", source, lake=tmp_path / "x").code == 0
    outer = tmp_path / "outer"
    assert run_retail("ingest", source, lake=outer).code == 0
    table = outer / "bronze" / "sales_lines"
    for inner in (table / "inner", table):
        done = run_retail("ingest", source, lake=inner)
        said = " ".join(done.stderr.split())
        assert done.code == 2, done.stdout + done.stderr
        assert f"{table} is a Delta table" in said, said
    assert sorted(p.name for p in table.iterdir() if not p.name.startswith("part-")) == [
        "_delta_log"
    ]


def test_a_restore_into_another_lake_s_table_is_refused_before_it_is_written(
    tmp_path: Path,
) -> None:
    """``retail restore B --lake outer/bronze/sales_lines/inner`` made its
    ``inner.restoring`` folder inside the outer table before any check (sixteenth round's
    audit): the same refusal as every writer's, exit 2, nothing written there."""
    source = tmp_path / "s.csv"
    assert run_retail("generate", "--rows", "30", "--out", source, lake=tmp_path / "x").code == 0
    outer = tmp_path / "outer"
    assert run_retail("ingest", source, lake=outer).code == 0
    backups = tmp_path / "backups"
    assert run_retail("backup", backups, lake=outer).code == 0
    table = outer / "bronze" / "sales_lines"
    before = sorted(p.name for p in table.iterdir())
    done = run_retail("restore", backups, "--lake", table / "inner")
    said = " ".join(done.stderr.split())
    assert done.code == 2, done.stdout + done.stderr
    assert f"{table} is a Delta table" in said, said
    assert sorted(p.name for p in table.iterdir()) == before
