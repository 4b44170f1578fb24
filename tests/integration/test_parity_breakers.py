"""The whole pipeline on DuckDB and on Spark builds the same lake from data built to break engines.

The input is :mod:`tests.engine_breakers` (about 300 lines in a CSV, the same lines as NDJSON, a
Parquet file with typed columns; then a second batch that moves customers to other countries and
respells earlier lines, and a retraction of the NDJSON file). Both lakes get the same bronze
through the real ``retail ingest`` and ``retail retract``; ``run_pipeline`` (what ``retail run``
calls) then runs on DuckDB in one and on Spark local mode in the other, in this process, so the
module's JVM is the only one. After each run every silver, quarantine and gold table is compared
row for row, keys included, and so are the rule counts and the accounting.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.config import load_settings
from retail_lakehouse.lake import Lake
from retail_lakehouse.pipeline.accounting import check_accounting
from retail_lakehouse.pipeline.runner import run_pipeline
from tests.conftest import ingest_with_cli as ingest
from tests.conftest import run_retail
from tests.engine_breakers import write_breakers
from tests.integration.test_parity_cli import TABLES, rows_of

# Soak: two Spark runs of the whole pipeline (264 s at load 6-7); `make test` runs the same
# data through the silver and gold parity tests (`test_parity_silver.py`, `test_parity_gold.py`).
pytestmark = [pytest.mark.spark, pytest.mark.soak]

ENGINES = ("duckdb", "spark")
RULE_COLUMNS = ("table_name", "rule", "dimension", "action", "weight", "lines_checked")


def rule_counts(lake: Path) -> Counter[tuple[Any, ...]]:
    """Every rule result of every run, without the run's id and time."""
    rows = Lake(lake).read("meta.quality_results").to_pylist()
    return Counter(tuple(r[c] for c in (*RULE_COLUMNS, "lines_failed", "score")) for r in rows)


def differences(lakes: dict[str, Path]) -> dict[str, tuple[list[Any], list[Any]]]:
    """Per table, the rows only DuckDB has and the rows only Spark has (five of each)."""
    found = {}
    for table in [t.qualified for t in TABLES]:
        duck = Counter(map(repr, rows_of(lakes["duckdb"], table)))
        spark = Counter(map(repr, rows_of(lakes["spark"], table)))
        if duck != spark:
            only = (list((duck - spark).elements())[:5], list((spark - duck).elements())[:5])
            found[table] = only
    if rule_counts(lakes["duckdb"]) != rule_counts(lakes["spark"]):
        duck, spark = rule_counts(lakes["duckdb"]), rule_counts(lakes["spark"])
        found["meta.quality_results"] = (list(duck - spark), list(spark - duck))
    return found


@pytest.fixture(scope="module")
def runs(spark_session: None, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Both lakes after each of the two runs: the differences, the accounting and the lines."""
    root = tmp_path_factory.mktemp("breakers")
    first, later, retracted = write_breakers(root / "in")
    template = root / "bronze"
    for source in first:
        ingest(template, source)
    lakes = {engine: root / engine for engine in ENGINES}
    settings = load_settings()
    states = []
    for step in ("first", "later"):
        for engine, lake in lakes.items():
            if step == "first":
                shutil.copytree(template, lake)
            else:
                for source in later:
                    ingest(lake, source)
                done = run_retail("retract", retracted, lake=lake)
                assert done.code == 0, done.stderr
            run_pipeline(Lake(lake), settings, engine_name=engine)
        states.append(
            {
                "differences": differences(lakes),
                "accounting": {e: check_accounting(Lake(lakes[e])) for e in ENGINES},
                "silver": {
                    e: Lake(lakes[e]).read("silver.sales_lines").to_pylist() for e in ENGINES
                },
                "customers": {
                    e: Lake(lakes[e]).read("gold.dim_customer").to_pylist() for e in ENGINES
                },
            }
        )
    return states


@pytest.mark.parametrize("step", [0, 1], ids=["first batch", "second batch and a retraction"])
def test_every_table_is_identical_on_both_engines(runs: list[dict[str, Any]], step: int) -> None:
    assert runs[step]["differences"] == {}


@pytest.mark.parametrize("step", [0, 1], ids=["first batch", "second batch and a retraction"])
def test_the_accounting_is_identical_and_balances(runs: list[dict[str, Any]], step: int) -> None:
    duck, spark = (runs[step]["accounting"][e] for e in ENGINES)
    assert duck == spark
    assert not duck["broken"]


def test_a_two_digit_year_is_in_the_same_century_on_both_engines(
    runs: list[dict[str, Any]],
) -> None:
    """``12/5/99`` was 2099-12-05 on Spark (its ``yy`` reads 2000-2099) and 1999-12-05 on
    DuckDB (POSIX: 69-99 are the 1900s); both now follow POSIX."""
    for engine in ENGINES:
        dates = {
            r["description"]: r["invoice_ts"]
            for r in runs[0]["silver"][engine]
            if str(r["description"]).startswith("DATE ")
        }
        assert dates["DATE 12/5/99 9:00"] == dt.datetime(1999, 12, 5, 9, 0), engine
        assert dates["DATE 12/5/00 9:00"] == dt.datetime(2000, 12, 5, 9, 0), engine
        assert dates["DATE 12/5/11 9:00"] == dt.datetime(2011, 12, 5, 9, 0), engine


def test_the_data_reaches_what_it_attacks(runs: list[dict[str, Any]]) -> None:
    """Guards against a comparison of empty or trivial tables: the second run moved customers
    to other countries (SCD2 versions) and took the retracted file's lines out of silver."""
    for engine in ENGINES:
        invoices = {r["invoice_no"] for r in runs[0]["silver"][engine]}
        assert any(i.startswith("68") for i in invoices), engine  # the NDJSON copy
        later = {r["invoice_no"] for r in runs[1]["silver"][engine]}
        assert not any(i.startswith("68") for i in later), engine  # retracted
        versions = Counter(r["customer_id"] for r in runs[1]["customers"][engine])
        assert versions["15001"] == 2, engine
