"""Units of the observation layer: secret masking, descriptions everywhere, column lineage
covering every output column."""

from __future__ import annotations

from retail_lakehouse.lake.contracts import contract, contracts
from retail_lakehouse.observe.lineage.columns import derive
from retail_lakehouse.observe.logging import MASK, redact_processor, redact_text


def test_secrets_are_masked_in_fields_and_inside_text() -> None:
    event = redact_processor(
        None,
        "info",
        {
            "event": "connect postgresql://bi:hunter2@db:5432/dw failed",
            "api_key": "rk_abc",
            "headers": {"Authorization": "Bearer eyJhbGciOi.x.y", "accept": "json"},
            "dsn": "host=db password=hunter2",
            "note": "password='p w' user=x",
            "rows": 3,
        },
    )
    text = repr(event)
    assert "hunter2" not in text and "rk_abc" not in text and "eyJhbGciOi" not in text
    assert "p w" not in text
    assert event["api_key"] == MASK and event["headers"]["accept"] == "json"
    assert event["rows"] == 3
    assert redact_text("Bearer abc.def") == f"Bearer {MASK}"


def test_every_table_and_column_is_described_once() -> None:
    for target in contracts():
        assert target.description, target.qualified
        for field in target.schema:
            assert target.column_description(field.name), (target.qualified, field.name)


def test_column_lineage_covers_every_output_column_of_silver_and_gold() -> None:
    lineage = derive()
    computed = [
        t
        for t in lineage.tables()
        if t.startswith(("silver.", "gold.")) and t not in ("gold.dim_date", "gold.dim_time")
    ]
    assert len(computed) == 15  # 3 silver, 4 computed dimensions, the fact, 4 marts, 3 summaries
    for table in computed:
        columns = lineage.columns[table]
        assert set(columns) == set(contract(table).schema.names), table
        business = [c for c, sources in columns.items() if sources]
        assert len(business) >= len(columns) // 2, table  # most columns read something
    assert lineage.inputs("silver.sales_lines", "quantity") == {("bronze.sales_lines", "quantity")}
    assert lineage.inputs("gold.fact_sales", "customer_key") == {
        ("gold.dim_customer", "customer_key")
    }
    assert lineage.upstream_tables("gold.mart_daily_sales") == {"gold.fact_sales"}
    assert lineage.inputs("gold.product_prices", "unit_price") == {
        ("silver.sales_lines", "unit_price")
    }
