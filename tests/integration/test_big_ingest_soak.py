"""A large, ordinary CSV is ingested every time, not refused by the reader's memory limit.

The reader worker's resident memory while staging a big CSV plateaus at about 1.0-1.3 GB
whatever the file's size (DuckDB's buffer pool, the parser's chunks and ~250 MB of libraries),
so with the old 1,280 MB default a 5,000,000-line export (400 MB) was refused in about one
ingest of three ("reading needed more than the 1,280 MB memory limit"). Three fresh ingests of
the same generated file must all succeed and hold every line (``make soak``: about a minute).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import run_retail

pytestmark = pytest.mark.soak
LINES = 5_000_000


def test_a_five_million_line_csv_is_never_refused(tmp_path: Path) -> None:
    source = tmp_path / "sales.csv"
    made = run_retail("generate", "--rows", str(LINES), "--out", source)
    assert made.code == 0, made.stderr
    for attempt in range(3):
        lake = tmp_path / f"lake-{attempt}"
        done = run_retail("ingest", source, lake=lake)
        assert done.code == 0, (attempt, done.stdout[-2000:], done.stderr[-2000:])
        with LakeSQL(Lake(lake), tables=["bronze.sales_lines"]) as sql:
            count = sql.arrow("SELECT count(*) AS n FROM bronze.sales_lines")["n"][0].as_py()
        assert count == LINES, (attempt, count)
