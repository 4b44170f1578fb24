"""A lake written by the previous version (hex text keys) from the user's side: a clear refusal
naming the one command to run, then that command rebuilds silver and gold with integer keys."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from tests.conftest import RetailCli


def _as_previous_version(table: Path, columns: list[str]) -> None:
    """Rewrite ``columns`` as the previous version stored them: hex text."""
    data = DeltaTable(str(table)).to_pyarrow_table()
    for name in columns:
        index = data.schema.get_field_index(name)
        text = pa.array([f"{v & (2**64 - 1):016x}" for v in data.column(name).to_pylist()])
        data = data.set_column(index, pa.field(name, pa.string()), text)
    write_deltalake(str(table), data, mode="overwrite", schema_mode="overwrite")


def test_old_text_keys_are_refused_until_one_full_refresh(
    retail: RetailCli, lake_dir: Path, real_files: list[Path]
) -> None:
    assert retail("ingest", real_files[0], lake=lake_dir).code == 0
    assert retail("run", lake=lake_dir).code == 0
    gold = lake_dir / "gold"
    # a dimension alone with text keys is enough to be refused (its keys join the fact's)
    _as_previous_version(gold / "dim_product", ["product_key"])
    assert retail("ingest", real_files[2], lake=lake_dir).code == 0
    refused = retail("run", lake=lake_dir)
    assert refused.code == 1
    assert "gold.dim_product" in refused.stderr and "product_key" in refused.stderr

    _as_previous_version(lake_dir / "silver" / "sales_lines", ["_line_key", "_record_hash"])
    _as_previous_version(
        gold / "fact_sales",
        ["line_key", "product_key", "customer_key", "country_key", "invoice_key"],
    )
    _as_previous_version(gold / "dim_customer", ["customer_key", "country_key"])
    _as_previous_version(gold / "dim_country", ["country_key"])
    _as_previous_version(gold / "dim_invoice", ["invoice_key"])
    _as_previous_version(gold / "mart_product_performance", ["product_key"])
    refused = retail("run", lake=lake_dir)
    assert refused.code == 1
    assert "earlier version" in refused.stderr and "retail run --full-refresh" in refused.stderr

    rebuilt = retail("run", "--full-refresh", lake=lake_dir)
    assert rebuilt.code == 0, rebuilt.stderr
    types = retail(
        "sql",
        "SELECT (SELECT typeof(_line_key) FROM silver.sales_lines LIMIT 1) AS silver, "
        "(SELECT typeof(line_key) FROM gold.fact_sales LIMIT 1) AS fact, "
        "(SELECT typeof(customer_key) FROM gold.fact_sales LIMIT 1) AS fact_customer, "
        "(SELECT typeof(product_key) FROM gold.dim_product LIMIT 1) AS product, "
        "(SELECT typeof(customer_key) FROM gold.dim_customer LIMIT 1) AS customer, "
        "(SELECT typeof(country_key) FROM gold.dim_country LIMIT 1) AS country, "
        "(SELECT typeof(invoice_key) FROM gold.dim_invoice LIMIT 1) AS invoice, "
        "(SELECT typeof(product_key) FROM gold.mart_product_performance LIMIT 1) AS mart, "
        "(SELECT count(*) FROM gold.fact_sales f ANTI JOIN gold.dim_product p "
        "USING (product_key)) AS unresolved_products, "
        "(SELECT count(*) FROM gold.fact_sales f ANTI JOIN gold.dim_customer c "
        "USING (customer_key)) AS unresolved_customers",
        "--format",
        "json",
        lake=lake_dir,
    ).json()
    assert types == [
        {
            "silver": "BIGINT",
            "fact": "BIGINT",
            "fact_customer": "BIGINT",
            "product": "BIGINT",
            "customer": "BIGINT",
            "country": "BIGINT",
            "invoice": "BIGINT",
            "mart": "BIGINT",
            "unresolved_products": 0,
            "unresolved_customers": 0,
        }
    ]
    status = retail("status", "--json", lake=lake_dir).json()
    assert status["accounting"]["balanced"] and status["accounting"]["pending"] == 0
