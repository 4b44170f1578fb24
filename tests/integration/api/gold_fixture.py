"""A small hand-made gold lake, written with ``Lake.write`` to the contracts.

Fast to build (under a second) and fully known, for tests that check the API's own logic
(filters, pagination, auth) without running the pipeline. The marts are derived from the fact
with the gold definitions, so KPIs computed either way must agree.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts import contract

COUNTRIES = ["United Kingdom", "Germany", "France", "Ireland"]
PRODUCTS = [
    ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "Home decor"),
    ("71053", "WHITE METAL LANTERN", "Home decor"),
    ("84406B", "CREAM CUPID HEARTS COAT HANGER", "Home decor"),
    ("22423", "REGENCY CAKESTAND 3 TIER", "Kitchen"),
    ("85099B", "JUMBO BAG RED RETROSPOT", "Bags"),
    ("20725", "LUNCH BAG RED RETROSPOT", "Bags"),
    ("47566", "PARTY BUNTING", "Party"),
    ("84879", "ASSORTED COLOUR BIRD ORNAMENT", "Home decor"),
    ("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", "Kitchen"),
    ("POST", "POSTAGE", "Non-product"),
]
START = date(2011, 1, 1)


def _key(text: str) -> int:
    """A 64-bit surrogate key, as the pipeline makes them (first 8 bytes of a SHA-256)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


_SQL_KEY = "CAST(hash({}) >> 1 AS BIGINT)"  # another 64-bit key, for rows the SQL derives
DAYS = 75


def _fact(rng: random.Random) -> pa.Table:
    rows: list[dict[str, object]] = []
    invoice = 536000
    for day in range(DAYS):
        for _ in range(rng.randint(3, 8)):
            invoice += 1
            guest = rng.random() < 0.1
            customer = None if guest else str(12000 + rng.randint(0, 39))
            country = COUNTRIES[0] if rng.random() < 0.6 else rng.choice(COUNTRIES[1:])
            if customer == "12005":  # a customer who moved: country follows the date
                country = "Germany" if day < 40 else "France"
            ts = datetime.combine(START + timedelta(days=day), datetime.min.time()) + timedelta(
                hours=rng.randint(8, 18), minutes=rng.randint(0, 59)
            )
            cancelled = rng.random() < 0.08
            for _ in range(rng.randint(1, 5)):
                code, _, category = rng.choice(PRODUCTS)
                qty = rng.randint(1, 24) * (-1 if cancelled else 1)
                price = Decimal(rng.randint(50, 1500)) / 100
                non_product = category == "Non-product"
                rows.append(
                    {
                        "line_key": len(rows),
                        "date_key": int(ts.strftime("%Y%m%d")),
                        "time_key": int(ts.strftime("%H%M")),
                        "product_key": _key(f"p{code}"),
                        "customer_key": 0 if guest else _key(f"c{customer}"),
                        "country_key": _key(f"k{country}"),
                        "invoice_key": _key(f"i{invoice}"),
                        "invoice_no": ("C" if cancelled else "") + str(invoice),
                        "stock_code": code,
                        "customer_id": customer,
                        "country": country,
                        "invoice_ts": ts,
                        "quantity": qty,
                        "unit_price": price,
                        "line_amount": price * qty,
                        "is_cancellation": cancelled,
                        "is_return": qty < 0,
                        "is_adjustment": False,
                        "is_non_product": non_product,
                        "is_guest": guest,
                        "is_sale": not non_product and qty > 0 and not cancelled,
                        "is_return_line": not non_product and (cancelled or qty < 0),
                        "quality_score": 100,
                        "_batch_seq": 1,
                        "_run_id": "fixture",
                    }
                )
    return pa.Table.from_pylist(rows, schema=contract("gold.fact_sales").schema)


_MARTS = {
    "gold.mart_daily_sales": """
        SELECT CAST(invoice_ts AS DATE) AS sale_date, country,
               coalesce(sum(line_amount) FILTER (WHERE is_sale), 0) AS gross_revenue,
               coalesce(-sum(line_amount) FILTER (WHERE is_return_line), 0) AS returns_amount,
               coalesce(sum(line_amount) FILTER (WHERE is_sale), 0)
                 + coalesce(sum(line_amount) FILTER (WHERE is_return_line), 0) AS net_revenue,
               count(DISTINCT invoice_no) FILTER (WHERE is_sale) AS orders,
               count(DISTINCT customer_id) FILTER (WHERE is_sale AND NOT is_guest) AS customers,
               coalesce(sum(quantity) FILTER (WHERE is_sale), 0) AS units,
               CAST(sum(line_amount) FILTER (WHERE is_sale) AS DOUBLE)
                 / nullif(count(DISTINCT invoice_no) FILTER (WHERE is_sale), 0) AS avg_order_value,
               NULL AS gross_revenue_dod_pct, NULL AS gross_revenue_7d_avg
        FROM fact GROUP BY ALL
    """,
    "gold.mart_customer_rfm": """
        WITH c AS (
            SELECT customer_id, arg_max(country, invoice_ts) AS country,
                   min(invoice_ts) AS first_purchase, max(invoice_ts) AS last_purchase,
                   count(DISTINCT invoice_no) AS frequency, sum(line_amount) AS monetary
            FROM fact WHERE is_sale AND NOT is_guest GROUP BY customer_id
        )
        SELECT *, date_diff('day', CAST(last_purchase AS DATE), DATE '2011-03-16')
                   AS recency_days,
               ntile(5) OVER (ORDER BY last_purchase, customer_id) AS r_score,
               ntile(5) OVER (ORDER BY frequency, customer_id) AS f_score,
               ntile(5) OVER (ORDER BY monetary, customer_id) AS m_score,
               CASE WHEN monetary > 900 THEN 'Champions' WHEN monetary > 500 THEN 'Loyal'
                    ELSE 'At Risk' END AS rfm_segment,
               monetary AS lifetime_value, DATE '2011-03-16' AS as_of_date
        FROM c
    """,
    "gold.mart_product_performance": """
        SELECT CAST(date_trunc('month', invoice_ts) AS DATE) AS month, stock_code,
               any_value(product_key) AS product_key, any_value(description) AS description,
               any_value(category) AS category,
               coalesce(sum(line_amount) FILTER (WHERE is_sale), 0) AS revenue,
               coalesce(sum(quantity) FILTER (WHERE is_sale), 0) AS units,
               count(DISTINCT invoice_no) FILTER (WHERE is_sale) AS orders,
               0.05 AS return_rate, 1 AS revenue_rank, 'A' AS abc_class
        FROM fact JOIN products USING (stock_code) GROUP BY ALL
    """,
    "gold.mart_cohort_retention": """
        WITH first AS (
            SELECT customer_id, CAST(date_trunc('month', min(invoice_ts)) AS DATE) AS cohort
            FROM fact WHERE is_sale AND NOT is_guest GROUP BY customer_id
        ), act AS (
            SELECT DISTINCT f.customer_id, cohort,
                   date_diff('month', cohort, CAST(date_trunc('month', invoice_ts) AS DATE)) AS m
            FROM fact f JOIN first USING (customer_id) WHERE is_sale
        ), size AS (SELECT cohort, count(*) AS n FROM first GROUP BY cohort)
        SELECT cohort AS cohort_month, m AS months_since, n AS cohort_size,
               count(*) AS active_customers, count(*) / n AS retention
        FROM act JOIN size USING (cohort) GROUP BY cohort, m, n
    """,
}


def build_gold_lake(root: Path, seed: int = 7) -> Lake:
    """Write a consistent little gold layer (plus quality and quarantine) under ``root``."""
    lake = Lake(root)
    rng = random.Random(seed)
    fact = _fact(rng)
    products = pa.table(
        {
            "stock_code": [p[0] for p in PRODUCTS],
            "description": [p[1] for p in PRODUCTS],
            "category": [p[2] for p in PRODUCTS],
        }
    )
    lake.write("gold.fact_sales", fact)
    con = duckdb.connect()
    con.register("fact", fact)
    con.register("products", products)
    for table, sql in _MARTS.items():
        lake.write(table, con.execute(sql).to_arrow_table())
    lake.write(
        "gold.dim_product",
        pa.table(
            {
                "product_key": [_key(f"p{p[0]}") for p in PRODUCTS],
                "stock_code": [p[0] for p in PRODUCTS],
                "description": [p[1] for p in PRODUCTS],
                "category": [p[2] for p in PRODUCTS],
                "is_non_product": [p[2] == "Non-product" for p in PRODUCTS],
            }
        ),
    )
    lake.write(
        "gold.dim_country",
        pa.table(
            {
                "country_key": [0, *(_key(f"k{c}") for c in COUNTRIES)],
                "country": ["Unknown", *COUNTRIES],
                "iso2": [None, "GB", "DE", "FR", "IE"],
                "iso3": [None, "GBR", "DEU", "FRA", "IRL"],
            }
        ),
    )
    customers = con.execute(
        f"""
        SELECT {_SQL_KEY.format("customer_id || '-' || country")} AS customer_key, customer_id,
               any_value(country_key) AS country_key, country,
               min(invoice_ts) AS valid_from,
               CASE WHEN customer_id = '12005' AND country = 'Germany'
                    THEN TIMESTAMP '2011-02-10 00:00:00' END AS valid_to,
               NOT (customer_id = '12005' AND country = 'Germany') AS is_current,
               CASE WHEN customer_id = '12005' AND country = 'France' THEN 2 ELSE 1 END
                   AS version,
               min(invoice_ts) AS first_purchase, max(invoice_ts) AS last_purchase
        FROM fact WHERE NOT is_guest GROUP BY customer_id, country
        QUALIFY customer_id = '12005' OR row_number() OVER (
            PARTITION BY customer_id ORDER BY count(*) DESC, country) = 1
        """
    ).to_arrow_table()
    lake.write("gold.dim_customer", customers)
    _quality(lake)
    return lake


def _quality(lake: Lake) -> None:
    runs = ["r1", "r2", "r3"]
    stamps = [datetime(2024, 1, d, 12, tzinfo=UTC) for d in (1, 2, 3)]
    overall = [97.5, 95.0, 98.25]
    scores: list[dict[str, object]] = []
    results: list[dict[str, object]] = []
    for run, stamp, score in zip(runs, stamps, overall, strict=True):
        scores.append(
            {
                "run_id": run,
                "table_name": "silver.sales_lines",
                "scope": "overall",
                "name": "overall",
                "score": score,
                "grade": "A",
                "lines_checked": 1000,
                "computed_at": stamp,
            }
        )
        for dim, value in (("completeness", score - 1), ("validity", score + 1)):
            scores.append(
                {
                    "run_id": run,
                    "table_name": "silver.sales_lines",
                    "scope": "dimension",
                    "name": dim,
                    "score": value,
                    "grade": "A",
                    "lines_checked": 1000,
                    "computed_at": stamp,
                }
            )
        results.append(
            {
                "run_id": run,
                "table_name": "silver.sales_lines",
                "rule": "price_positive",
                "dimension": "validity",
                "action": "quarantine",
                "weight": 1.0,
                "lines_checked": 1000,
                "lines_failed": 12,
                "score": 98.8,
                "checked_at": stamp,
            }
        )
    lake.write("meta.quality_scores", pa.Table.from_pylist(scores))
    lake.write("meta.quality_results", pa.Table.from_pylist(results))
    quarantine = [
        {
            "invoice_no": "536999",
            "stock_code": "22423",
            "quantity": 3,
            "country": "France",
            "quarantine_reasons": ["price_positive"],
            "raw_unit_price": "-1",
            "_line_key": i,
            "_batch_id": "b1",
            "_batch_seq": 1,
            "_row_number": i,
            "_record_hash": i,
            "_source_file": "x.csv",
            "_run_id": "r1",
            "_processed_at": stamps[0],
        }
        for i in range(5)
    ] + [
        {
            "invoice_no": "537000",
            "stock_code": "X",
            "quantity": None,
            "country": None,
            "quarantine_reasons": ["quantity_parses", "country_known"],
            "raw_quantity": "abc",
            "_line_key": 9,
            "_batch_id": "b1",
            "_batch_seq": 1,
            "_row_number": 9,
            "_record_hash": 9,
            "_source_file": "x.csv",
            "_run_id": "r1",
            "_processed_at": stamps[0],
        }
    ]
    lake.write("silver.quarantine", pa.Table.from_pylist(quarantine))
