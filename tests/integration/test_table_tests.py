"""Table tests (dbt-style) on gold tables, from the user's side: ``retail run`` subprocesses.

The same YAML files as the rules hold a ``tests:`` list; a run records every test in
``meta.quality_results`` under the tested table, ``retail quality report --table`` reports on
it, and a ``fail`` test over its threshold stops the run with exit 1 naming the test.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import REAL_DATA, run_retail

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SAMPLE = REAL_DATA / "online_retail_head_1071.csv"

PASSING = """\
tests:
  - name: fact_line_key_unique
    table: gold.fact_sales
    test: unique
    column: line_key
    action: fail
  - name: fact_product_known
    table: gold.fact_sales
    test: relationships
    column: product_key
    to: gold.dim_product
    field: product_key
    action: fail
  - name: fact_stock_code_present
    table: gold.fact_sales
    test: not_null
    column: stock_code
    action: fail
  - name: fact_has_rows
    table: gold.fact_sales
    test: row_count
    min: 1
    action: fail
  - name: segments_are_known
    table: gold.mart_customer_rfm
    test: accepted_values
    column: rfm_segment
    values: [Champions]
  - name: fact_is_recent
    table: gold.fact_sales
    test: freshness
    column: invoice_ts
    max_age_hours: 24
"""
"""Gates that hold on the sample, and two warnings that fail (the sample's customers are not all
Champions, and its sales are from 2010)."""

FAILING_GATE = (
    PASSING
    + """\
  - name: fact_is_tiny
    table: gold.fact_sales
    test: row_count
    max: 10
    action: fail
"""
)


def rules_file(folder: Path, text: str) -> Path:
    path = folder / "tests.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def results(lake: Path) -> dict[str, dict[str, Any]]:
    with LakeSQL(Lake(lake)) as sql:
        rows = sql.arrow(
            """
            SELECT run_id, table_name, rule, action, lines_checked, lines_failed, score
            FROM meta.quality_results WHERE table_name LIKE 'gold.%'
            QUALIFY row_number() OVER (PARTITION BY rule ORDER BY checked_at DESC) = 1
            """
        ).to_pylist()
    return {r["rule"]: r for r in rows}


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("table-tests") / "lake"
    assert run_retail("ingest", SAMPLE, lake=lake).code == 0
    return lake


def fresh_copy(sample_lake: Path, tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    shutil.copytree(sample_lake, lake)
    return lake


def test_table_tests_are_recorded_and_reported(sample_lake: Path, tmp_path: Path) -> None:
    lake = fresh_copy(sample_lake, tmp_path)
    done = run_retail("run", "--rules", rules_file(tmp_path, PASSING), lake=lake)
    assert done.code == 0, done.stderr
    assert "table tests" in done.stdout and "gold.fact_sales" in done.stdout
    found = results(lake)
    assert set(found) == {
        "fact_line_key_unique",
        "fact_product_known",
        "fact_stock_code_present",
        "fact_has_rows",
        "segments_are_known",
        "fact_is_recent",
    }
    with LakeSQL(Lake(lake)) as sql:
        facts = sql.arrow(
            "SELECT count(*) AS n, count(DISTINCT line_key) AS d FROM gold.fact_sales"
        ).to_pylist()[0]
        champions = sql.arrow(
            "SELECT count(*) FILTER (WHERE rfm_segment <> 'Champions') AS other, "
            "count(rfm_segment) AS n FROM gold.mart_customer_rfm"
        ).to_pylist()[0]
    unique = found["fact_line_key_unique"]
    assert (unique["lines_checked"], unique["lines_failed"]) == (
        facts["n"],
        facts["n"] - facts["d"],
    )
    assert found["fact_product_known"]["lines_failed"] == 0
    segments = found["segments_are_known"]
    assert segments["table_name"] == "gold.mart_customer_rfm"
    assert (segments["lines_checked"], segments["lines_failed"]) == (
        champions["n"],
        champions["other"],
    )
    assert found["fact_is_recent"]["lines_failed"] == 1  # 2010 sales are not from today
    report = run_retail("quality", "report", "--table", "gold.fact_sales", lake=lake)
    assert report.code == 0, report.stderr
    assert "quality of gold.fact_sales" in report.stdout and "fact_is_recent" in report.stdout


def test_a_failing_table_test_fails_the_run_naming_it(sample_lake: Path, tmp_path: Path) -> None:
    lake = fresh_copy(sample_lake, tmp_path)
    done = run_retail("run", "--rules", rules_file(tmp_path, FAILING_GATE), lake=lake)
    assert done.code == 1, (done.stdout, done.stderr)
    assert "table test 'fact_is_tiny' failed" in done.stderr
    found = results(lake)
    assert found["fact_is_tiny"]["lines_failed"] == 1 and found["fact_is_tiny"]["action"] == "fail"
    with LakeSQL(Lake(lake)) as sql:
        status = (
            sql.arrow(
                "SELECT status FROM meta.runs WHERE run_id = ? ", [found["fact_is_tiny"]["run_id"]]
            )
            .column("status")
            .to_pylist()
        )
    assert status and status[-1] != "succeeded"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PASSING.replace("column: line_key", "column: line_id"), "gold.fact_sales has no column"),
        (PASSING.replace("table: gold.mart_customer_rfm", "table: gold.nope"), "unknown table"),
    ],
)
def test_a_bad_table_test_is_refused_before_any_work(  # more cases: tests/unit/quality
    sample_lake: Path, tmp_path: Path, text: str, message: str
) -> None:
    lake = fresh_copy(sample_lake, tmp_path)
    before = Lake(lake).versions()
    done = run_retail("run", "--rules", rules_file(tmp_path, text), lake=lake)
    assert done.code == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "tests.yaml" in done.stderr
    assert Lake(lake).versions() == before


def test_a_new_rule_without_weight_weighs_one(sample_lake: Path, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - name: no_huge_quantities\n"
        "    dimension: accuracy\n"
        "    expression: quantity < 1000\n"
        "    action: warn\n",
        encoding="utf-8",
    )
    lake = fresh_copy(sample_lake, tmp_path)
    done = run_retail("run", "--rules", path, lake=lake)
    assert done.code == 0, done.stderr
    with LakeSQL(Lake(lake)) as sql:
        weight = (
            sql.arrow("SELECT weight FROM meta.quality_results WHERE rule = 'no_huge_quantities'")
            .column("weight")
            .to_pylist()
        )
    assert weight == [1.0]
