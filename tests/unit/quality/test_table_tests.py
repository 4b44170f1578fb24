"""Table tests evaluated on a small, fully known gold lake (DuckDB engine, real Delta tables)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from retail_lakehouse.engines import open_engine
from retail_lakehouse.pipeline.errors import RulesError
from retail_lakehouse.quality.evaluate import evaluate_tests
from retail_lakehouse.quality.rules import rules_from_text
from tests.integration.api.gold_fixture import build_gold_lake

TESTS = """\
tests:
  - name: customer_id_unique
    table: gold.dim_customer
    test: unique
    column: customer_id
  - name: fact_customer_known
    table: gold.fact_sales
    test: relationships
    column: customer_key
    to: gold.dim_customer
    field: customer_key
  - name: fact_country_listed
    table: gold.fact_sales
    test: accepted_values
    column: country
    values: [United Kingdom, Germany, France]
  - name: dim_country_iso2
    table: gold.dim_country
    test: not_null
    column: iso2
    weight: 3
  - name: five_countries
    table: gold.dim_country
    test: row_count
    min: 5
    max: 5
  - name: fact_recent
    table: gold.fact_sales
    test: freshness
    column: invoice_ts
    max_age_hours: 240
    action: fail
"""


def test_counts_scores_and_gates(tmp_path: Path) -> None:
    lake = build_gold_lake(tmp_path / "lake")
    tests = rules_from_text(TESTS).tests
    with open_engine(lake, "duckdb") as engine:
        outcomes = evaluate_tests(engine, tests, now=datetime(2011, 3, 20, 12))
        facts = engine.to_arrow(engine.table("gold.fact_sales")).to_pylist()
        customers = engine.to_arrow(engine.table("gold.dim_customer")).to_pylist()
    fact = {r.name: r for r in outcomes["gold.fact_sales"].rules}
    ids = [c["customer_id"] for c in customers]
    dim = {r.name: r for r in outcomes["gold.dim_customer"].rules}
    # 12005 moved country: two SCD2 versions, one repeated customer_id
    assert (dim["customer_id_unique"].lines_checked, dim["customer_id_unique"].lines_failed) == (
        len(ids),
        len(ids) - len(set(ids)),
    )
    assert dim["customer_id_unique"].lines_failed == 1
    # (the fixture's fact keys are not dim_customer's keys: an independent count of the misses)
    keys = {c["customer_key"] for c in customers}
    missing = sum(
        1 for f in facts if f["customer_key"] is not None and f["customer_key"] not in keys
    )
    assert fact["fact_customer_known"].lines_checked == len(facts)
    assert fact["fact_customer_known"].lines_failed == missing > 0
    assert fact["fact_country_listed"].lines_failed == sum(
        1 for f in facts if f["country"] == "Ireland"
    )
    assert fact["fact_recent"].lines_failed == 0  # newest line 2011-03-16, 4 days before "now"
    countries = {r.name: r for r in outcomes["gold.dim_country"].rules}
    assert countries["dim_country_iso2"].lines_failed == 1  # the unknown member
    assert countries["five_countries"].lines_failed == 0
    # the table's score: test scores weighted by weight (3 and 1)
    expected = (countries["dim_country_iso2"].score * 3 + 100.0) / 4
    assert outcomes["gold.dim_country"].overall_score == pytest.approx(expected, abs=1e-3)
    assert outcomes["gold.fact_sales"].gate_failures == ()
    with open_engine(lake, "duckdb") as engine:
        stale = evaluate_tests(engine, tests, now=datetime(2012, 1, 1))["gold.fact_sales"]
    assert [g.rule.name for g in stale.gate_failures] == ["fact_recent"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("column: iso2", "column: iso_2"), "gold.dim_country has no column 'iso_2'"),
        (("field: customer_key", "field: key"), "gold.dim_customer has no column 'key'"),
        (("to: gold.dim_customer", "to: dim_customer"), "needs 'to'"),
        (("    max_age_hours: 240\n", ""), "needs 'max_age_hours'"),
        (("action: fail", "action: quarantine"), "action must be warn or fail"),
        (("    values: [United", "    values: []\n    x: [United"), "unknown key"),
        (("name: five_countries", "name: price_typical"), "a rule already has this name"),
    ],
)
def test_bad_tests_are_refused_naming_the_test(change: tuple[str, str], message: str) -> None:
    with pytest.raises(RulesError, match=message):
        rules_from_text(TESTS.replace(*change), source="tests.yaml", include_defaults=True)
