"""Gold on PySpark equals gold on DuckDB, table by table, value by value.

Both lakes get the same batches (generated lines, the hostile text of :mod:`tests.adversarial` and
the lines of :mod:`tests.engine_breakers`, then more generated lines and the breakers' second batch,
which moves customers to other countries) and the same silver (built with DuckDB); gold then runs on
DuckDB in one lake and on PySpark local mode in the other, after each batch, so both the full and
the incremental path are compared; a second pair of lakes gets an append of later dates, which takes
the paths that continue from the previous rows (``dim_customer``'s versions, ``dim_product``'s rows,
the product mart's added sums; the hostile text's far dates keep the first pair off them). The Ibis
definitions are shared, so any difference would come from an engine-specific semantic (hashing,
ranking ties, decimal arithmetic, dates).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.benchmark.processes import make_append
from retail_lakehouse.engines import open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline import gold, silver
from tests.adversarial import write_adversarial
from tests.conftest import ingest_with_cli as ingest
from tests.conftest import run_retail
from tests.engine_breakers import write_breakers
from tests.integration.gold_rows import gold_rows

pytestmark = pytest.mark.spark
ROWS = 8_000


def run_layers(lake: Lake, gold_engine: str) -> gold.GoldReport:
    """Silver on DuckDB (the same in both lakes), then gold on ``gold_engine``."""
    with recorded_run(lake, "parity") as run:
        with open_engine(lake, "duckdb") as duck:
            silver.process(lake, duck, run, extra_rules=[])
        with open_engine(lake, gold_engine) as engine:
            return gold.process(lake, engine, run)


@pytest.mark.usefixtures("spark_session")
def test_gold_on_spark_equals_gold_on_duckdb(tmp_path: Path) -> None:
    whole = tmp_path / "whole.csv"
    done = run_retail("generate", "--rows", str(ROWS), "--out", whole, lake=tmp_path / "x")
    assert done.code == 0, done.stderr
    header, *lines = whole.read_text().splitlines()
    parts = [tmp_path / "part1.csv", tmp_path / "part2.csv"]
    parts[0].write_text("\n".join([header, *lines[: ROWS // 2]]) + "\n")
    parts[1].write_text("\n".join([header, *lines[ROWS // 2 :]]) + "\n")
    duck_lake, spark_lake = Lake(tmp_path / "duck"), Lake(tmp_path / "spark")
    hostile = write_adversarial(tmp_path / "adversarial")
    breakers, later, _ = write_breakers(tmp_path / "breakers")
    for part in ([parts[0], *hostile, *breakers], [parts[1], *later]):
        for source in part:
            ingest(duck_lake.root, source)
            ingest(spark_lake.root, source)
        run_layers(duck_lake, "duckdb")
        report = run_layers(spark_lake, "spark")
        assert not report.nothing_to_do
    duck, sparked = gold_rows(duck_lake), gold_rows(spark_lake)
    for table in duck:
        assert sparked[table] == duck[table], table


@pytest.mark.usefixtures("spark_session")
def test_an_append_of_later_lines_on_spark_equals_duckdb(tmp_path: Path) -> None:
    source, later = tmp_path / "sales.csv", tmp_path / "later.csv"
    done = run_retail("generate", "--rows", "3000", "--out", source, lake=tmp_path / "x")
    assert done.code == 0, done.stderr
    make_append(source, later, 60, 0)  # later dates: the append paths (decision 0020)
    duck_lake, spark_lake = Lake(tmp_path / "duck"), Lake(tmp_path / "spark")
    for part in (source, later):
        ingest(duck_lake.root, part)
        ingest(spark_lake.root, part)
        run_layers(duck_lake, "duckdb")
        assert not run_layers(spark_lake, "spark").nothing_to_do
    duck, sparked = gold_rows(duck_lake), gold_rows(spark_lake)
    for table in duck:
        assert sparked[table] == duck[table], table
