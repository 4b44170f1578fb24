"""A lake root given as a ``file://`` URI works end to end from the CLI, in a folder whose name
needs percent-encoding; object-store roots are refused clearly (docs/spark.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.lake.location import UnsupportedLakeRoot, local_root
from tests.conftest import run_retail


def test_a_file_uri_lake_root_works_from_ingest_to_sql(
    tmp_path: Path, real_files: list[Path]
) -> None:
    folder = tmp_path / "my lake"
    uri = folder.as_uri()  # file:///.../my%20lake
    assert "%20" in uri
    source = real_files[0]
    ingested = run_retail("--lake", uri, "ingest", source)
    assert ingested.code == 0, ingested.stderr[-2000:]
    assert (folder / "bronze" / "sales_lines" / "_delta_log").is_dir()  # decoded, not "my%20lake"
    ran = run_retail("--lake", uri, "run", "--engine", "duckdb")
    assert ran.code == 0, ran.stderr[-2000:]
    status = run_retail("--lake", uri, "status")
    assert status.code == 0, status.stderr[-2000:]
    plain = run_retail("--lake", folder, "sql", "SELECT count(*) AS n FROM gold.fact_sales")
    through_uri = run_retail("--lake", uri, "sql", "SELECT count(*) AS n FROM gold.fact_sales")
    assert through_uri.code == 0, through_uri.stderr[-2000:]
    assert through_uri.stdout == plain.stdout
    assert not (tmp_path / "file:").exists() and not Path("file:").exists()


def test_an_object_store_lake_root_is_refused_with_the_reason(tmp_path: Path) -> None:
    done = run_retail("--lake", "s3://bucket/lake", "status")
    assert done.code == 2
    assert "s3: lake roots are not supported" in done.stderr
    assert not Path("s3:").exists()


def test_lake_roots_resolve_to_local_folders() -> None:
    assert local_root("file:///data/my%20lake") == Path("/data/my lake")
    assert local_root("file://localhost/data/lake") == Path("/data/lake")
    assert local_root("lake") == Path("lake")
    assert local_root(Path("~/lake")) == Path.home() / "lake"


@pytest.mark.parametrize(
    "refused", ["abfss://c@acct.dfs.core.windows.net/lake", "file://otherhost/lake", "dbfs:/x"]
)
def test_other_lake_roots_are_refused(refused: str) -> None:
    with pytest.raises(UnsupportedLakeRoot):
        local_root(refused)
