"""The line classification and KPI definitions, in Ibis and in SQL, on hand-made lines."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.pipeline.gold.definitions import (
    KPI_COLUMNS,
    KPI_SQL,
    is_product_line,
    is_return_line,
    is_sale_line,
    kpi_aggregates,
    kpi_select_sql,
)
from tests.unit.gold.silver_rows import line, rows, run_gold, write_batch

LINES = [
    line("536365", "85123A", 6, "2.55", "2010-12-01 08:26", "c1"),  # sale
    line("536365", "71053", 2, "3.39", "2010-12-01 08:26", "c1"),  # sale
    line("536366", "22633", 3, "1.85", "2010-12-01 08:28", None),  # guest sale
    line("C536379", "85123A", -2, "2.55", "2010-12-01 09:41", "c1"),  # cancellation: return
    line("C536380", "71053", 1, "3.39", "2010-12-01 09:45", "c2"),  # cancelled, qty > 0: return
    line("536381", "22633", -1, "1.85", "2010-12-01 09:50", "c2"),  # negative qty: return
    line("536382", "POST", 1, "18.00", "2010-12-01 10:00", "c2"),  # non-product
    line("C536383", "D", -1, "27.50", "2010-12-01 10:01", "c2"),  # non-product cancellation
    line("A563185", "B", 1, "-11062.06", "2010-12-01 10:02", None),  # adjustment
]
EXPECTED_FLAGS = [
    (True, True, False),
    (True, True, False),
    (True, True, False),
    (True, False, True),
    (True, False, True),
    (True, False, True),
    (False, False, False),
    (False, False, False),
    (False, False, False),
]


def test_classification(engine: Engine) -> None:
    from retail_lakehouse.lake.contracts.silver import SILVER_SALES_LINES

    table = pa.Table.from_pylist(
        LINES, schema=pa.schema([SILVER_SALES_LINES.schema.field(n) for n in LINES[0]])
    )
    t = engine.arrow_table(table, "definitions_lines")
    out = engine.to_arrow(
        t.select(product=is_product_line(t), sale=is_sale_line(t), ret=is_return_line(t))
    )
    got = list(zip(*(out.column(c).to_pylist() for c in ("product", "sale", "ret")), strict=True))
    assert got == EXPECTED_FLAGS


@pytest.fixture
def gold_lake(lake: Lake) -> Lake:
    write_batch(lake, 1, LINES)
    run_gold(lake)
    return lake


def test_kpis_by_hand(gold_lake: Lake) -> None:
    got = rows(gold_lake, kpi_select_sql())[0]
    gross = Decimal("6") * Decimal("2.55") + 2 * Decimal("3.39") + 3 * Decimal("1.85")
    returns = 2 * Decimal("2.55") - Decimal("3.39") + Decimal("1.85")
    assert got["gross_revenue"] == gross
    assert got["returns_amount"] == returns
    assert got["net_revenue"] == gross - returns
    assert got["orders"] == 2
    assert got["customers"] == 1
    assert got["units"] == 11
    assert got["avg_order_value"] == pytest.approx(float(gross) / 2)


def test_sql_and_ibis_kpis_agree(gold_lake: Lake, engine: Engine) -> None:
    fact = engine.table("gold.fact_sales")
    ibis_kpis = engine.to_arrow(fact.aggregate(**kpi_aggregates(fact))).to_pylist()[0]
    sql_kpis = rows(gold_lake, kpi_select_sql())[0]
    assert set(KPI_SQL) == set(KPI_COLUMNS)
    for name in KPI_COLUMNS:
        assert sql_kpis[name] == pytest.approx(ibis_kpis[name]), name


def test_daily_mart_uses_the_definitions(gold_lake: Lake) -> None:
    daily = rows(gold_lake, "SELECT * FROM gold.mart_daily_sales")
    assert len(daily) == 1
    kpis = rows(gold_lake, kpi_select_sql())[0]
    for name in ("gross_revenue", "returns_amount", "net_revenue", "orders", "customers", "units"):
        assert daily[0][name] == kpis[name], name
    assert daily[0]["avg_order_value"] == Decimal("13.8150")  # (15.30 + 6.78 + 5.55) / 2
