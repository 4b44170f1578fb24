"""What rule expressions mean: the whitelisted SQL subset, NULL semantics, statistics."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
import pytest

from retail_lakehouse.engines import Engine, open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.quality.compile import rule_schema
from retail_lakehouse.quality.evaluate import evaluate, summarise
from retail_lakehouse.quality.rules import rules_from_text

NOW = datetime(2011, 12, 10, 12, 0)
_names = itertools.count()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with open_engine(Lake(tmp_path_factory.mktemp("rules") / "lake"), "duckdb") as opened:
        yield opened


def line(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "invoice_no": "536365",
        "stock_code": "85123A",
        "description": "WHITE HANGING HEART",
        "quantity": 6,
        "unit_price": Decimal("2.55"),
        "invoice_ts": datetime(2010, 12, 1, 8, 26),
        "customer_id": "17850",
        "country": "United Kingdom",
        "country_code": "GB",
        "line_amount": Decimal("15.30"),
        "is_cancellation": False,
        "is_return": False,
        "is_adjustment": False,
        "is_non_product": False,
        "is_guest": False,
        "raw_quantity": "6",
        "raw_unit_price": "2.55",
        "raw_invoice_date": "12/1/2010 8:26",
        "raw_country": "United Kingdom",
        "_source_file": "f.csv",
    }
    base.update(values)
    return base


def failing(engine: Engine, expression: str, rows: list[dict[str, Any]]) -> list[bool]:
    """Which of ``rows`` fail a warn rule with ``expression``."""
    schema = rule_schema().to_pyarrow()
    n = len(rows)
    data = {
        name: pa.array([r.get(name) for r in rows], schema.field(name).type)
        for name in schema.names
        if name not in ("_batch_seq", "_row_number")
    }
    data["_batch_seq"] = pa.array([1] * n, pa.int64())
    data["_row_number"] = pa.array(range(n), pa.int64())
    table = engine.arrow_table(pa.table(data), f"lines_{next(_names)}")
    rules = rules_from_text(
        "rules:\n  - name: r\n    dimension: validity\n    weight: 10\n    action: warn\n"
        "    expression: |-\n      " + expression + "\n"
    )
    evaluated = evaluate(table, rules, now=NOW)
    result = engine.to_arrow(
        evaluated.table.order_by("_row_number").select(evaluated.fail_columns[0])
    )
    return [bool(v) for v in result.column(0).to_pylist()]


def test_true_passes_false_fails_and_null_counts_as_passing(engine: Engine) -> None:
    rows = [line(quantity=6), line(quantity=0), line(quantity=None)]
    assert failing(engine, "quantity <> 0", rows) == [False, True, False]
    assert failing(engine, "quantity IS NOT NULL", rows) == [False, False, True]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("stock_code IN ('POST', 'DOT')", [True, False, True]),
        ("stock_code NOT IN ('POST', 'DOT')", [False, True, False]),
        ("quantity BETWEEN 1 AND 10", [False, True, False]),
        ("description LIKE 'WHITE%'", [False, True, True]),
        ("description ILIKE 'white%'", [False, True, True]),
        ("stock_code ~ '[0-9]{5}[A-Z]?'", [False, True, False]),
        ("regexp_matches(stock_code, '[0-9]')", [False, True, False]),
        ("starts_with(invoice_no, 'C')", [True, False, True]),
        ("length(trim(description)) > 3", [True, True, True]),
        ("upper(country) = 'UNITED KINGDOM' AND lower(country_code) = 'gb'", [True, True, True]),
        ("abs(quantity) < 100", [True, True, False]),
        ("coalesce(customer_id, 'guest') <> 'guest'", [True, True, False]),
        ("NOT is_guest OR is_non_product", [True, True, False]),
        ("quantity * unit_price = line_amount", [False, True, False]),
        ("CASE WHEN is_return THEN quantity < 0 ELSE quantity > 0 END", [True, True, True]),
        ("year(invoice_ts) = 2010 AND month(invoice_ts) = 12", [False, True, False]),
        ("invoice_ts >= '2010-01-01'", [False, True, True]),
        ("invoice_ts < TIMESTAMP '2011-12-10 00:00:00'", [True, True, False]),
        ("invoice_ts <= now() + INTERVAL '1' DAY", [True, True, True]),
        ("invoice_ts < current_date", [True, True, False]),
        ("NOT is_blank(raw_quantity)", [True, True, False]),
        ("nullif(customer_id, '') IS NOT NULL", [True, True, False]),
        ("quantity % 2 = 0 AND quantity / 2 >= 3", [False, True, False]),
    ],
)
def test_the_supported_sql_subset(engine: Engine, expression: str, expected: list[bool]) -> None:
    rows = [
        line(
            stock_code="POST",
            quantity=-1,
            description="POSTAGE",
            is_return=True,
            invoice_ts=datetime(2009, 1, 1),
            line_amount=Decimal("99"),
            invoice_no="C1",
        ),
        line(),
        line(
            stock_code="DOT",
            quantity=999,
            customer_id=None,
            is_guest=True,
            invoice_ts=datetime(2011, 12, 10, 9),
            raw_quantity="  ",
            description="WHITE",
            invoice_no="C2",
        ),
    ]
    assert failing(engine, expression, rows) == [not e for e in expected]


def test_median_over_a_partition_and_robust_z(engine: Engine) -> None:
    prices = ["2", "2", "2.2", "1.8", "2", "40", "5", "5", "5", "5.5"]
    codes = ["A"] * 6 + ["B"] * 4
    rows = [line(stock_code=c, unit_price=Decimal(p)) for c, p in zip(codes, prices, strict=True)]
    usual = "unit_price <= 4 * median(unit_price) OVER (PARTITION BY stock_code)"
    assert failing(engine, usual, rows) == [False] * 5 + [True] + [False] * 4
    robust = "abs(robust_z(unit_price, stock_code)) <= 10"
    assert failing(engine, robust, rows) == [False] * 5 + [True] + [False] * 4
    everyone = "count(*) OVER (PARTITION BY stock_code) > 4"
    assert failing(engine, everyone, rows) == [False] * 6 + [True] * 4
    overall = "unit_price <= 3 * median(unit_price) OVER ()"
    assert failing(engine, overall, rows) == [False] * 5 + [True] + [False] * 4


def test_robust_z_falls_back_to_the_mean_deviation_when_mad_is_zero(engine: Engine) -> None:
    quantities = [12] * 99 + [12000]  # MAD is 0: more than half the orders are 12
    rows = [line(quantity=q) for q in quantities]
    assert failing(engine, "abs(robust_z(quantity)) <= 25", rows) == [False] * 99 + [True]


def test_scores_dimensions_and_quarantine(engine: Engine) -> None:
    rules = rules_from_text(
        "rules:\n"
        "  - {name: a, dimension: completeness, weight: 60, action: quarantine,"
        " expression: customer_id IS NOT NULL}\n"
        "  - {name: b, dimension: completeness, weight: 30, action: warn,"
        " expression: description IS NOT NULL}\n"
        "  - {name: c, dimension: validity, weight: 50, action: warn, expression: quantity > 0}\n"
    )
    rows = [line(), line(customer_id=None, description=None), line(description=None, quantity=-1)]
    schema = rule_schema().to_pyarrow()
    data = {
        n: pa.array([r.get(n) for r in rows], schema.field(n).type)
        for n in schema.names
        if n not in ("_batch_seq", "_row_number")
    }
    data["_batch_seq"] = pa.array([1, 1, 1], pa.int64())
    data["_row_number"] = pa.array([0, 1, 2], pa.int64())
    table = engine.arrow_table(pa.table(data), f"lines_{next(_names)}")
    evaluated = evaluate(table, rules, now=NOW)
    out = engine.to_arrow(evaluated.table.order_by("_row_number")).to_pylist()
    assert [r["quality_score"] for r in out] == [100, 10, 20]
    assert [r["quality_flags"] for r in out] == [[], ["a", "b"], ["b", "c"]]
    assert [r["quarantine_reasons"] for r in out] == [[], ["a"], []]
    assert [r["_quarantined"] for r in out] == [False, True, False]
    outcome = summarise(engine, evaluated)
    assert outcome.lines_checked == 3 and outcome.quarantined == 1
    assert outcome.overall_score == pytest.approx(130 / 3, abs=1e-3)
    assert outcome.grade == "F"
    dims = {d.name: (d.lines_failed, d.score) for d in outcome.dimensions}
    assert dims["completeness"] == (2, pytest.approx(100 / 3, abs=1e-3))
    assert dims["validity"][0] == 1
    assert {r.name: r.lines_failed for r in outcome.rules} == {"a": 1, "b": 2, "c": 1}


def test_the_same_expression_compiles_for_spark_sql() -> None:
    """Compiling needs no JVM: the translated rule must be expressible in Spark SQL."""
    pytest.importorskip("pyspark")
    assert ibis.pyspark is not None  # loads the backend (and its compiler options)

    rules = rules_from_text(
        "rules:\n  - {name: r, dimension: validity, weight: 1, action: warn,"
        " expression: \"stock_code ~ '[0-9]{5}' AND NOT is_blank(raw_quantity)\"}\n"
    )
    table = ibis.table(rule_schema(), name="lines")
    evaluated = evaluate(table, rules, now=NOW)
    sql = ibis.to_sql(evaluated.table, dialect="pyspark")
    assert "RLIKE" in sql
