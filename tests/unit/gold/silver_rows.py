"""Hand-made silver lines for gold unit tests, written as real Delta tables.

Gold reads ``silver.sales_lines`` and the ``silver`` watermark only, so a test can set up any
history (late lines, country changes, odd flags) without going through bronze and silver.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from retail_lakehouse.engines import open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.consumers import SILVER_CONSUMER
from retail_lakehouse.lake.contracts.silver import SILVER_SALES_LINES
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.lake.watermarks import write_watermark
from retail_lakehouse.pipeline import gold

NON_PRODUCT = {"POST", "DOT", "M", "C2", "D", "CRUK", "BANK CHARGES", "AMAZONFEE", "S", "PADS", "B"}
BUSINESS_COLUMNS = (
    "invoice_no",
    "stock_code",
    "quantity",
    "invoice_ts",
    "customer_id",
    "unit_price",
    "description",
)
CODES = {"United Kingdom": "GB", "France": "FR", "Germany": "DE", "EIRE": "IE", "Ireland": "IE"}


def line(
    invoice: str,
    stock: str,
    quantity: int,
    price: str,
    ts: str,
    customer: str | None = "c1",
    country: str | None = "United Kingdom",
    description: str | None = "RED BAG",
) -> dict[str, Any]:
    """One silver line with its flags derived the way silver derives them."""
    amount = Decimal(price) * quantity
    return {
        "invoice_no": invoice,
        "stock_code": stock,
        "description": description,
        "quantity": quantity,
        "unit_price": Decimal(price),
        "invoice_ts": datetime.fromisoformat(ts),
        "customer_id": customer,
        "country": country,
        "country_code": CODES.get(country or ""),
        "line_amount": amount,
        "is_cancellation": invoice.startswith("C"),
        "is_return": quantity < 0,
        "is_adjustment": invoice.startswith("A"),
        "is_non_product": stock in NON_PRODUCT,
        "is_guest": customer is None,
        "quality_score": 100,
        "quality_flags": [],
    }


def write_batch(lake: Lake, batch_seq: int, lines: list[dict[str, Any]]) -> None:
    """Append ``lines`` as silver batch ``batch_seq`` and advance the silver watermark."""
    rows = []
    for number, row in enumerate(lines, start=2):
        key_text = "|".join(str(row[c]) for c in BUSINESS_COLUMNS)
        rows.append(
            {
                **row,
                "_line_key": int.from_bytes(
                    hashlib.sha256(key_text.encode()).digest()[:8], "big", signed=True
                ),
                "_batch_id": f"b{batch_seq}",
                "_batch_seq": batch_seq,
                "_row_number": number,
                "_record_hash": number,
                "_source_file": f"file{batch_seq}.csv",
                "_run_id": "test",
                "_processed_at": datetime.now(UTC),
            }
        )
    table = pa.Table.from_pylist(rows, schema=SILVER_SALES_LINES.schema)
    lake.write(SILVER_SALES_LINES.qualified, table)
    write_watermark(lake, SILVER_CONSUMER, batch_seq, "test")


def run_gold(lake: Lake, *, full_refresh: bool = False, engine: str = "duckdb") -> gold.GoldReport:
    with recorded_run(lake, "gold-test") as run, open_engine(lake, engine) as opened:
        return gold.process(lake, opened, run, full_refresh=full_refresh)


def rows(lake: Lake, sql: str) -> list[dict[str, Any]]:
    from retail_lakehouse.lake.query import LakeSQL

    with LakeSQL(lake) as con:
        result: list[dict[str, Any]] = con.arrow(sql).to_pylist()
    return result


UNRESOLVED_KEYS_SQL = """
SELECT
  count(*) FILTER (WHERE d.date_key IS NULL) AS dates,
  count(*) FILTER (WHERE t.time_key IS NULL) AS times,
  count(*) FILTER (WHERE p.product_key IS NULL) AS products,
  count(*) FILTER (WHERE c.customer_key IS NULL) AS customers,
  count(*) FILTER (WHERE k.country_key IS NULL) AS countries,
  count(*) FILTER (WHERE i.invoice_key IS NULL) AS invoices
FROM gold.fact_sales f
LEFT JOIN gold.dim_date d ON d.date_key = f.date_key
LEFT JOIN gold.dim_time t ON t.time_key = f.time_key
LEFT JOIN gold.dim_product p ON p.product_key = f.product_key
LEFT JOIN gold.dim_customer c ON c.customer_key = f.customer_key
LEFT JOIN gold.dim_country k ON k.country_key = f.country_key
LEFT JOIN gold.dim_invoice i ON i.invoice_key = f.invoice_key
"""
"""Fact rows whose key finds no dimension row, per dimension (all zero in a sound star)."""
