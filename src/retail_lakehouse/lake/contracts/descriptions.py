"""What each table and column means, written once, beside the contracts.

Read through :attr:`TableContract.description` and :meth:`TableContract.column_description`;
every place that shows a description (PostgreSQL ``COMMENT``s today; the catalog, OpenLineage
facets and the OpenAPI schema as they come) takes it from here, so the words never drift apart.
Kept apart from the schemas so a column's type and its prose can change independently;
``tests/unit/lake/test_descriptions.py`` insists that every gold table and column is described.
The long-form reference with the formulas is ``docs/gold.md``.
"""

from __future__ import annotations

_LINEAGE = {
    "_batch_seq": "The bronze batch (ingested file) the line came from.",
    "_run_id": "The retail run that wrote the row.",
}

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "gold.dim_date": (
        "One row per day of every whole year the data touches, plus the unknown date (key 0).",
        {
            "date_key": "Surrogate key yyyymmdd; 0 is the unknown date.",
            "date": "The calendar day.",
            "year": "Calendar year.",
            "quarter": "Calendar quarter, 1-4.",
            "month": "Calendar month, 1-12.",
            "month_name": "Month name in English.",
            "day": "Day of the month.",
            "day_of_week": "ISO day of the week: 1 = Monday ... 7 = Sunday.",
            "day_name": "Day name in English.",
            "iso_year": "ISO 8601 week-numbering year.",
            "iso_week": "ISO 8601 week number.",
            "fiscal_year": "UK fiscal year (April start), named after the year it ends in.",
            "fiscal_quarter": "UK fiscal quarter: 1 = April-June.",
            "is_weekend": "Saturday or Sunday.",
            "is_bank_holiday": "A bank holiday in England and Wales.",
            "bank_holiday_name": "Name of the bank holiday, if any.",
            "season": "Meteorological season, northern hemisphere.",
        },
    ),
    "gold.dim_time": (
        "One row per minute of the day (time_key hhmm), plus the unknown time (key -1).",
        {
            "time_key": "Surrogate key hhmm; -1 is the unknown time.",
            "hour": "Hour, 0-23.",
            "minute": "Minute, 0-59.",
            "day_part": "Night, Morning, Afternoon or Evening.",
            "is_business_hour": "Between 09:00 and 17:59.",
        },
    ),
    "gold.dim_country": (
        "One row per canonical country, with ISO codes, region and currency; key '0' unknown.",
        {
            "country_key": "Surrogate key: hash of the canonical country name; '0' is unknown.",
            "country": "Canonical country name.",
            "iso2": "ISO 3166-1 alpha-2 code.",
            "iso3": "ISO 3166-1 alpha-3 code.",
            "region": "Region of the world.",
            "continent": "Continent.",
            "currency": "ISO 4217 currency code.",
            "is_eu_member": "Member of the European Union.",
        },
    ),
    "gold.dim_product": (
        "One row per stock code with its current attributes (SCD type 1); key '0' unknown.",
        {
            "product_key": "Surrogate key: hash of the stock code; '0' is unknown.",
            "stock_code": "The product's stock code (natural key).",
            "description": "Most recent non-empty description.",
            "category": "Category from the description's keywords; Non-product for fees.",
            "is_non_product": "Postage, fees, adjustments and other non-product codes.",
            "typical_price": "Median unit price of the code's charged lines.",
            "first_sold": "Date of the first charged line.",
            "last_sold": "Date of the last charged line.",
        },
    ),
    "gold.dim_customer": (
        "Customers with their country history (SCD type 2): one row per version; "
        "key '0' is the unknown member (guests).",
        {
            "customer_key": "Surrogate key: hash of customer id and valid_from; '0' is unknown.",
            "customer_id": "The customer's id (natural key).",
            "country_key": "Key of the version's country in dim_country.",
            "country": "The version's country.",
            "valid_from": "First instant of this version.",
            "valid_to": "Start of the next version (exclusive); NULL for the current one.",
            "is_current": "The customer's current version.",
            "version": "Version number, 1, 2, ...",
            "first_purchase": "The customer's first sale line.",
            "last_purchase": "The customer's last sale line.",
        },
    ),
    "gold.dim_invoice": (
        "One row per invoice number; key '0' is the unknown invoice.",
        {
            "invoice_key": "Surrogate key: hash of the invoice number; '0' is unknown.",
            "invoice_no": "The invoice number (natural key); C... are cancellations.",
            "invoice_ts": "Earliest timestamp of the invoice's lines.",
            "customer_id": "The invoice's customer (smallest id if lines disagree).",
            "country": "The invoice's country (smallest name if lines disagree).",
            "is_cancellation": "A cancellation invoice (number starts with C).",
            "is_adjustment": "An adjustment (A invoices, bad-debt lines).",
            "line_count": "Number of lines on the invoice.",
        },
    ),
    "gold.fact_sales": (
        "One row per sales line (the grain of silver), with keys to every dimension.",
        {
            "line_key": "Surrogate key of the line (hash of its business columns).",
            "date_key": "Key of the invoice day in dim_date.",
            "time_key": "Key of the invoice minute in dim_time.",
            "product_key": "Key of the product in dim_product.",
            "customer_key": "Key of the customer version valid at invoice_ts in dim_customer.",
            "country_key": "Key of the country in dim_country.",
            "invoice_key": "Key of the invoice in dim_invoice.",
            "invoice_no": "Invoice number.",
            "stock_code": "Product stock code.",
            "customer_id": "Customer id; NULL for guests.",
            "country": "Canonical country name.",
            "invoice_ts": "Invoice timestamp (local time of the source).",
            "quantity": "Units; negative for returns.",
            "unit_price": "Price per unit, exact.",
            "line_amount": "quantity * unit_price, exact.",
            "is_cancellation": "The invoice is a cancellation.",
            "is_return": "Quantity below zero.",
            "is_adjustment": "An adjustment line (A invoices, bad debt).",
            "is_non_product": "Postage, fees and other non-product codes.",
            "is_guest": "No customer id.",
            "is_sale": "Counts as a sale in every KPI (product line, quantity > 0, not cancelled).",
            "is_return_line": "Counts as a return in every KPI.",
            "quality_score": "Silver's quality score of the line, 0-100.",
            **_LINEAGE,
        },
    ),
    "gold.mart_daily_sales": (
        "Daily sales by country: revenue, returns, orders, customers, units and trends.",
        {
            "sale_date": "The day.",
            "country": "Canonical country name; Unknown when missing.",
            "gross_revenue": "Sum of line_amount over sale lines.",
            "returns_amount": "Amount of return lines, as a positive number.",
            "net_revenue": "gross_revenue - returns_amount.",
            "orders": "Distinct invoices among sale lines.",
            "customers": "Distinct non-guest customers among sale lines.",
            "units": "Units sold.",
            "avg_order_value": "gross_revenue / orders.",
            "gross_revenue_dod_pct": "Change against the country's previous trading day, in %.",
            "gross_revenue_7d_avg": "Gross revenue over the 7 calendar days ending here, / 7.",
        },
    ),
    "gold.mart_customer_rfm": (
        "Recency, frequency and monetary scores and segment of every customer with a sale.",
        {
            "customer_id": "The customer.",
            "country": "The customer's current country.",
            "first_purchase": "First sale line.",
            "last_purchase": "Last sale line.",
            "recency_days": "Days from the last sale to as_of_date.",
            "frequency": "Distinct invoices among the customer's sale lines.",
            "monetary": "Sum of line_amount over the customer's product lines (net of returns).",
            "r_score": "Recency quintile, 5 = most recent.",
            "f_score": "Frequency quintile, 5 = most frequent.",
            "m_score": "Monetary quintile, 5 = highest spend.",
            "rfm_segment": "Named segment (Champions, At Risk, ...).",
            "lifetime_value": "Spend rate annualised over tenure, projected over three years.",
            "as_of_date": "The day after the last invoice in the data.",
        },
    ),
    "gold.mart_product_performance": (
        "Product performance by month: revenue, units, orders, returns, rank and ABC class.",
        {
            "month": "First day of the month.",
            "stock_code": "The product's stock code.",
            "product_key": "Key of the product in dim_product.",
            "description": "Current description.",
            "category": "Current category.",
            "revenue": "Gross revenue of sale lines.",
            "units": "Units sold.",
            "orders": "Distinct sale invoices.",
            "returned_units": "Units returned.",
            "returns_amount": "Amount returned, as a positive number.",
            "return_rate": "returned_units / units; NULL when nothing sold.",
            "revenue_rank": "1 = highest revenue of the month.",
            "abc_class": "A: top 80% of the month's revenue, B: next 15%, C: the rest.",
        },
    ),
    "gold.mart_cohort_retention": (
        "Customer retention by first-purchase month and months since.",
        {
            "cohort_month": "Month of the customers' first sale line.",
            "months_since": "Months after the cohort month.",
            "cohort_size": "Customers in the cohort.",
            "active_customers": "Of them, customers with a sale line in that month.",
            "retention": "active_customers / cohort_size.",
        },
    ),
}


def table_description(qualified: str) -> str:
    entry = TABLES.get(qualified)
    return entry[0] if entry else ""


def column_description(qualified: str, column: str) -> str:
    entry = TABLES.get(qualified)
    return entry[1].get(column, "") if entry else ""
