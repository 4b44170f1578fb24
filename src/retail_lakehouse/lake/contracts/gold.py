"""Gold contracts: the star schema and the marts.

Surrogate keys are int64: the first 64 bits of the SHA-256 of the natural key (plus
``valid_from`` for SCD2 rows), ``pipeline.gold.keys.surrogate_key``. SHA-256 hex is identical on
every engine (``.hash()`` is not) and one conversion turns it into an int64, so DuckDB, Spark
and any re-run produce the same keys. Every dimension has an ``unknown`` member (key ``0``) for
missing references such as guest customers.
"""

from __future__ import annotations

import pyarrow as pa

from retail_lakehouse.lake.contracts.base import (
    LOCAL_TS,
    MONEY,
    PRICE,
    STR,
    TableContract,
    register,
)

KEY = pa.int64()
I32 = pa.int32()
I64 = pa.int64()
F64 = pa.float64()
BOOL = pa.bool_()
DATE = pa.date32()


def _f(name: str, type_: pa.DataType) -> pa.Field:
    return pa.field(name, type_)


DIM_DATE = TableContract(
    "gold",
    "dim_date",
    pa.schema(
        [
            _f("date_key", I32),
            _f("date", DATE),
            _f("year", I32),
            _f("quarter", I32),
            _f("month", I32),
            _f("month_name", STR),
            _f("day", I32),
            _f("day_of_week", I32),
            _f("day_name", STR),
            _f("iso_year", I32),
            _f("iso_week", I32),
            _f("fiscal_year", I32),
            _f("fiscal_quarter", I32),
            _f("is_weekend", BOOL),
            _f("is_bank_holiday", BOOL),
            _f("bank_holiday_name", STR),
            _f("season", STR),
        ]
    ),
    primary_key=("date_key",),
    filter_columns=("date", "year", "month"),
)
DIM_TIME = TableContract(
    "gold",
    "dim_time",
    pa.schema(
        [
            _f("time_key", I32),
            _f("hour", I32),
            _f("minute", I32),
            _f("day_part", STR),
            _f("is_business_hour", BOOL),
        ]
    ),
    primary_key=("time_key",),
)
DIM_COUNTRY = TableContract(
    "gold",
    "dim_country",
    pa.schema(
        [
            _f("country_key", KEY),
            _f("country", STR),
            _f("iso2", STR),
            _f("iso3", STR),
            _f("region", STR),
            _f("continent", STR),
            _f("currency", STR),
            _f("is_eu_member", BOOL),
        ]
    ),
    primary_key=("country_key",),
    filter_columns=("country", "iso2"),
)
DIM_PRODUCT = TableContract(
    "gold",
    "dim_product",
    pa.schema(
        [
            _f("product_key", KEY),
            _f("stock_code", STR),
            _f("description", STR),
            _f("category", STR),
            _f("is_non_product", BOOL),
            _f("typical_price", PRICE),
            _f("first_sold", DATE),
            _f("last_sold", DATE),
        ]
    ),
    primary_key=("product_key",),
    filter_columns=("stock_code", "category"),
)
DIM_CUSTOMER = TableContract(
    "gold",
    "dim_customer",
    pa.schema(
        [
            _f("customer_key", KEY),
            _f("customer_id", STR),
            _f("country_key", KEY),
            _f("country", STR),
            _f("valid_from", LOCAL_TS),
            _f("valid_to", LOCAL_TS),
            _f("is_current", BOOL),
            _f("version", I32),
            _f("first_purchase", LOCAL_TS),
            _f("last_purchase", LOCAL_TS),
        ]
    ),
    primary_key=("customer_key",),
    filter_columns=("customer_id", "country"),
)
DIM_INVOICE = TableContract(
    "gold",
    "dim_invoice",
    pa.schema(
        [
            _f("invoice_key", KEY),
            _f("invoice_no", STR),
            _f("invoice_ts", LOCAL_TS),
            _f("customer_id", STR),
            _f("country", STR),
            _f("is_cancellation", BOOL),
            _f("is_adjustment", BOOL),
            _f("line_count", I64),
        ]
    ),
    primary_key=("invoice_key",),
    filter_columns=("invoice_no", "invoice_ts"),
)
FACT_SALES = TableContract(
    "gold",
    "fact_sales",
    pa.schema(
        [
            _f("line_key", I64),  # silver's _line_key (64 bits of an MD5)
            _f("date_key", I32),
            _f("time_key", I32),
            _f("product_key", KEY),
            _f("customer_key", KEY),
            _f("country_key", KEY),
            _f("invoice_key", KEY),
            _f("invoice_no", STR),
            _f("stock_code", STR),
            _f("customer_id", STR),
            _f("country", STR),
            _f("invoice_ts", LOCAL_TS),
            _f("quantity", I64),
            _f("unit_price", PRICE),
            _f("line_amount", MONEY),
            _f("is_cancellation", BOOL),
            _f("is_return", BOOL),
            _f("is_adjustment", BOOL),
            _f("is_non_product", BOOL),
            _f("is_guest", BOOL),
            _f("is_sale", BOOL),
            _f("is_return_line", BOOL),
            _f("quality_score", I32),
            _f("_batch_seq", I64),
            _f("_run_id", STR),
        ]
    ),
    primary_key=("line_key",),
    references=(
        ("date_key", "gold.dim_date"),
        ("time_key", "gold.dim_time"),
        ("product_key", "gold.dim_product"),
        ("customer_key", "gold.dim_customer"),
        ("country_key", "gold.dim_country"),
        ("invoice_key", "gold.dim_invoice"),
    ),
    filter_columns=("product_key", "customer_key", "country_key"),
    ordered_columns=("date_key", "_batch_seq"),
)
MART_DAILY_SALES = TableContract(
    "gold",
    "mart_daily_sales",
    pa.schema(
        [
            _f("sale_date", DATE),
            _f("country", STR),
            _f("gross_revenue", MONEY),
            _f("returns_amount", MONEY),
            _f("net_revenue", MONEY),
            _f("orders", I64),
            _f("customers", I64),
            _f("units", I64),
            _f("avg_order_value", MONEY),
            _f("gross_revenue_dod_pct", F64),
            _f("gross_revenue_7d_avg", MONEY),
        ]
    ),
    primary_key=("sale_date", "country"),
    filter_columns=("country",),
)
MART_CUSTOMER_RFM = TableContract(
    "gold",
    "mart_customer_rfm",
    pa.schema(
        [
            _f("customer_id", STR),
            _f("country", STR),
            _f("first_purchase", LOCAL_TS),
            _f("last_purchase", LOCAL_TS),
            _f("recency_days", I32),
            _f("frequency", I64),
            _f("monetary", MONEY),
            _f("r_score", I32),
            _f("f_score", I32),
            _f("m_score", I32),
            _f("rfm_segment", STR),
            _f("lifetime_value", MONEY),
            _f("as_of_date", DATE),
        ]
    ),
    primary_key=("customer_id",),
    filter_columns=("country", "rfm_segment"),
)
MART_PRODUCT_PERFORMANCE = TableContract(
    "gold",
    "mart_product_performance",
    pa.schema(
        [
            _f("month", DATE),
            _f("stock_code", STR),
            _f("product_key", KEY),
            _f("description", STR),
            _f("category", STR),
            _f("revenue", MONEY),
            _f("units", I64),
            _f("orders", I64),
            _f("returned_units", I64),
            _f("returns_amount", MONEY),
            _f("return_rate", F64),
            _f("revenue_rank", I32),
            _f("abc_class", STR),
        ]
    ),
    primary_key=("month", "stock_code"),
    filter_columns=("stock_code", "product_key"),
)
MART_COHORT_RETENTION = TableContract(
    "gold",
    "mart_cohort_retention",
    pa.schema(
        [
            _f("cohort_month", DATE),
            _f("months_since", I32),
            _f("cohort_size", I64),
            _f("active_customers", I64),
            _f("retention", F64),
        ]
    ),
    primary_key=("cohort_month", "months_since"),
)

GOLD_TABLES = (
    DIM_DATE,
    DIM_TIME,
    DIM_COUNTRY,
    DIM_PRODUCT,
    DIM_CUSTOMER,
    DIM_INVOICE,
    FACT_SALES,
    MART_DAILY_SALES,
    MART_CUSTOMER_RFM,
    MART_PRODUCT_PERFORMANCE,
    MART_COHORT_RETENTION,
)
CUSTOMER_SUMMARY = TableContract(
    "gold",
    "customer_summary",
    pa.schema(
        [
            _f("customer_id", STR),
            _f("first_purchase", LOCAL_TS),
            _f("last_purchase", LOCAL_TS),
            _f("frequency", I64),
            _f("monetary", MONEY),
        ]
    ),
    primary_key=("customer_id",),
    internal=True,
)
CUSTOMER_MONTHS = TableContract(
    "gold",
    "customer_months",
    pa.schema([_f("customer_id", STR), _f("month", DATE)]),
    primary_key=("customer_id", "month"),
    internal=True,
)
PRODUCT_PRICES = TableContract(
    "gold",
    "product_prices",
    pa.schema(
        [
            _f("stock_code", STR),
            _f("unit_price", PRICE),
            _f("lines", I64),
            pa.field("_batch_seq", I64, nullable=False),
        ]
    ),
    primary_key=("_batch_seq", "stock_code", "unit_price"),
    internal=True,
)
GOLD_SUMMARIES = (CUSTOMER_SUMMARY, CUSTOMER_MONTHS, PRODUCT_PRICES)
"""Small summaries the run keeps up to date from the new rows, so what depends on all history
(RFM, cohorts, a product's median price) never re-reads the fact or silver (decision 0020).
Internal: not published, not served; rebuilt when missing."""

for _contract in (*GOLD_TABLES, *GOLD_SUMMARIES):
    register(_contract)
