"""`retail run --engine spark` and `retail run --engine duckdb` build the same lake, as a user
runs them: every silver and gold table, every column, every value, on hostile text.

The in-process parity tests compare one layer at a time; this one runs the whole command on each
engine (silver feeding gold), which is how a Spark trim that ate the letters ``v`` and ``f``
turned into a different ``dim_product``. The input is :mod:`tests.adversarial` (about 300
lines: the real exports are compared by the in-process parity tests); the Spark run is a
subprocess with its own JVM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import GOLD_TABLES
from retail_lakehouse.lake.contracts.silver import (
    SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    SILVER_SALES_LINES,
)
from tests.adversarial import write_adversarial
from tests.conftest import run_retail

# Soak, not `make test`: the same comparison of every table, on the same adversarial files, runs
# in `make test` through a Spark Connect server (`test_spark_cluster.py`), which also checks the
# trimmed values below; this local-Spark twin costs a JVM of its own (225 s of CI's budget).
pytestmark = [pytest.mark.spark, pytest.mark.soak]

TABLES = [SILVER_SALES_LINES, SILVER_QUARANTINE, SILVER_DUPLICATES, *GOLD_TABLES]
VOLATILE = {"_run_id", "_processed_at"}


def rows_of(lake: Path, qualified: str) -> list[tuple[Any, ...]]:
    """Every row of a table, volatile columns left out, in a canonical order."""
    delta = Lake(lake).delta(qualified)
    assert delta is not None, f"{qualified} missing in {lake}"
    data = delta.to_pyarrow_table()
    names = [n for n in data.column_names if n not in VOLATILE]
    columns = [data.column(n).to_pylist() for n in names]
    return sorted(zip(*columns, strict=True), key=repr)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("pyspark")
    root = tmp_path_factory.mktemp("parity_cli")
    sources = write_adversarial(root / "in")
    built = {}
    for engine in ("duckdb", "spark"):
        lake = root / engine
        done = run_retail("ingest", *sources, lake=lake)
        assert done.code == 0, done.stderr
        done = run_retail("run", "--engine", engine, lake=lake)
        assert done.code == 0, (engine, done.stdout[-2000:], done.stderr[-2000:])
        built[engine] = lake
    return built


@pytest.mark.parametrize("table", [t.qualified for t in TABLES])
def test_every_table_is_identical_on_both_engines(lakes: dict[str, Path], table: str) -> None:
    duck, spark = rows_of(lakes["duckdb"], table), rows_of(lakes["spark"], table)
    assert len(duck) == len(spark), (table, len(duck), len(spark))
    only_duck = [r for r in duck if r not in spark][:5]
    only_spark = [r for r in spark if r not in duck][:5]
    assert not only_duck and not only_spark, (table, only_duck, only_spark)


def test_escape_letters_and_unicode_spaces_are_trimmed_as_whitespace_only(
    lakes: dict[str, Path],
) -> None:
    """The values a user would look for, on both engines: letters kept, every space trimmed."""
    for engine, lake in lakes.items():
        assert_trimmed_as_whitespace_only(lake, engine)


def assert_trimmed_as_whitespace_only(lake: Path, engine: str) -> None:
    """The adversarial files' products and lines as a user would look for them: escape letters
    kept (a Spark trim once ate ``v`` and ``f``), every Unicode space trimmed, soft hyphens and
    control characters kept."""
    products = {
        r["stock_code"]: r["description"] for r in Lake(lake).read("gold.dim_product").to_pylist()
    }
    assert products.get("64018F") == "vintage shelf", engine
    assert products.get("V2201V") == "vintage shelv", engine
    assert products.get("22F") == "FELVET CHAIR f", engine
    assert products.get("B64018A") == "fabric scarf", engine
    assert products.get("WA0") == "vintage A0 shelf", engine  # NBSP around every column
    assert products.get("W3000") == "vintage 3000 shelf", engine  # ideographic space
    assert products.get("W2028") == "vintage 2028 shelf", engine  # line separator
    kept = Lake(lake).read("silver.sales_lines").to_pylist()
    descriptions = {r["description"] for r in kept}
    assert "\u00adKEPT AD\u00ad" in descriptions, engine  # soft hyphen is not whitespace
    assert "\x1fKEPT 1F\x1f" in descriptions, engine
