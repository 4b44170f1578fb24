"""What every table and column means, written once.

These texts flow everywhere a person or a tool reads about the data: the Delta table metadata
(table description, column ``comment``), ``retail catalog``, the OpenLineage documentation and
schema facets, the API's OpenAPI document and the PostgreSQL comments of ``retail publish``.
A column shared by several tables (the lineage columns, the business columns carried from
silver into gold) is described once in :data:`COLUMNS`; a table can say more in
:data:`TABLE_COLUMNS`.
"""

from __future__ import annotations

TABLES: dict[str, str] = {
    "bronze.sales_lines": (
        "Every parsed line of every ingested file, exactly as read (all values are text), with "
        "lineage back to the file and line. Append-only."
    ),
    "bronze.rejects": (
        "Lines that could not be parsed at all, with the file, line number, raw text and reason."
    ),
    "bronze.files": (
        "The ingestion manifest: one row per ingested file (content hash, format, counts). A "
        "file is in bronze exactly when its hash is here."
    ),
    "silver.sales_lines": (
        "Typed, standardised, deduplicated and quality-scored sales lines: one row per distinct "
        "bronze line that passed every quarantine rule."
    ),
    "silver.quarantine": (
        "Lines that failed at least one quarantine rule, with every failed rule named and the "
        "raw values kept."
    ),
    "silver.duplicates": (
        "Exact duplicate lines removed from silver, each pointing at the line that was kept."
    ),
    "gold.dim_date": "Calendar dimension: one row per day, UK fiscal year and bank holidays.",
    "gold.dim_time": "Time-of-day dimension: one row per minute of the day.",
    "gold.dim_country": "Countries with ISO codes, region, continent, currency and EU membership.",
    "gold.dim_product": (
        "Products (SCD1): the current description, category and typical price of each stock code."
    ),
    "gold.dim_customer": (
        "Customers (SCD2 on country): one row per version of a customer, with its validity."
    ),
    "gold.dim_invoice": "Invoices: time, customer, country, cancellation flag and line count.",
    "gold.fact_sales": (
        "Sales fact at the grain of one silver line, keyed to every dimension, with measures "
        "and the line's classification."
    ),
    "gold.mart_daily_sales": (
        "Revenue, returns, orders, customers and units per day and country, with day-over-day "
        "growth and a 7-day moving average."
    ),
    "gold.mart_customer_rfm": (
        "Recency, frequency and monetary value per customer as of the last invoice date, with "
        "1-5 scores, a named segment and lifetime value."
    ),
    "gold.mart_product_performance": (
        "Revenue, units, orders and returns per product and month, with revenue rank and ABC "
        "class."
    ),
    "gold.mart_cohort_retention": (
        "Share of each first-purchase-month cohort that bought again N months later."
    ),
    "meta.runs": "One row per command that changed the lake: what ran, when, and its result.",
    "meta.schema_history": "Schema changes of bronze: columns added by new source layouts.",
    "meta.watermarks": "The highest bronze batch each consumer (silver, gold) has processed.",
    "meta.quality_results": "Per run, per rule: lines checked, lines failed and the score.",
    "meta.quality_scores": "Per run: quality scores per dimension and overall, with a grade.",
    "meta.alerts": (
        "Alerts raised (failed runs and gates, refused files, freshness, slow runs, quality "
        "drops), one row per alert, with its delivery."
    ),
}

COLUMNS: dict[str, str] = {
    "invoice_no": "Invoice number; a leading C marks a cancellation, A an adjustment.",
    "stock_code": "Product (item) code.",
    "description": "Product description as written on the line.",
    "quantity": "Units on the line; negative for returns and cancellations.",
    "invoice_date": "Invoice date and time as written in the source file.",
    "invoice_ts": "Invoice date and time (wall clock of the shop, no time zone).",
    "unit_price": "Price per unit in pounds sterling.",
    "customer_id": "Customer number; empty for guest purchases.",
    "country": "Country of the customer (canonical English name in silver and gold).",
    "country_code": "ISO 3166-1 alpha-2 code of the country.",
    "line_amount": "quantity x unit_price.",
    "is_cancellation": "The invoice number starts with C.",
    "is_return": "The quantity is negative.",
    "is_adjustment": "An A invoice or a bad-debt adjustment line.",
    "is_non_product": "A non-product stock code (postage, fees, bank charges, samples...).",
    "is_guest": "No customer number on the line.",
    "quality_score": "0-100: the weighted share of quality rules the line passes.",
    "quality_flags": "Names of the warn-level rules the line fails.",
    "quarantine_reasons": "Names of the quarantine rules the line fails.",
    "_source_file": "File (and sheet) the line came from.",
    "_source_sha256": "SHA-256 of the source file's content.",
    "_batch_id": "Ingestion batch: one per ingested file.",
    "_batch_seq": "Increasing number of the ingestion batch.",
    "_row_number": "Line number within the source file.",
    "_ingested_at": "When the file was ingested (UTC).",
    "_record_hash": "Hash of the line's raw business columns.",
    "_schema_version": "Version of bronze's schema the line was written with.",
    "_line_key": "Key of the line's business values (equal keys are exact duplicates).",
    "_run_id": "Run that wrote the row.",
    "_processed_at": "When the run that wrote the row processed it (UTC).",
    "run_id": "Run (command) id.",
    "date_key": "Date as yyyymmdd.",
    "time_key": "Time of day as hhmm.",
    "product_key": "Surrogate key of the product.",
    "customer_key": "Surrogate key of the customer version.",
    "country_key": "Surrogate key of the country.",
    "invoice_key": "Surrogate key of the invoice.",
    "line_key": "Surrogate key of the sales line.",
    "valid_from": "Start of the version's validity.",
    "valid_to": "End of the version's validity (empty while current).",
    "is_current": "This is the customer's current version.",
    "version": "Version number of the customer (1 = first).",
    "first_purchase": "Time of the customer's first purchase.",
    "last_purchase": "Time of the customer's last purchase.",
    "is_sale": "A sale line: counted in gross revenue.",
    "is_return_line": "A return line: counted in returns.",
    "gross_revenue": "Sum of line_amount over sale lines.",
    "returns_amount": "Sum of the (negative) line_amount over return lines.",
    "net_revenue": "gross_revenue + returns_amount.",
    "orders": "Distinct invoices with a sale line.",
    "customers": "Distinct customers with a sale line.",
    "units": "Units sold on sale lines.",
    "avg_order_value": "gross_revenue / orders.",
    "category": "Product category from the keyword mapping.",
    "revenue": "Revenue (sum of line_amount over sale lines).",
    "month": "First day of the month.",
}

TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "bronze.rejects": {
        "line_number": "Line number of the rejected line in its file.",
        "raw_line": "The rejected line's raw text.",
        "reason": "Why the line could not be parsed.",
    },
    "bronze.files": {
        "format": "Detected file format.",
        "encoding": "Detected text encoding.",
        "delimiter": "Detected field delimiter.",
        "size_bytes": "File size in bytes.",
        "rows_ingested": "Lines written to bronze.sales_lines.",
        "rows_rejected": "Lines written to bronze.rejects.",
        "extra_columns": "Source columns beyond the canonical ones, kept as text.",
    },
    "silver.quarantine": {
        "raw_quantity": "Quantity as written in the source.",
        "raw_unit_price": "Unit price as written in the source.",
        "raw_invoice_date": "Invoice date as written in the source.",
        "raw_country": "Country as written in the source.",
    },
    "silver.duplicates": {
        "kept_batch_seq": "Batch of the line that was kept.",
        "kept_row_number": "Line number of the line that was kept.",
    },
    "gold.dim_date": {
        "date": "The day.",
        "year": "Calendar year.",
        "quarter": "Calendar quarter (1-4).",
        "month": "Month number (1-12).",
        "month_name": "Month name.",
        "day": "Day of the month.",
        "day_of_week": "ISO day of the week (1 = Monday).",
        "day_name": "Day name.",
        "iso_year": "ISO week-numbering year.",
        "iso_week": "ISO week number.",
        "fiscal_year": "UK fiscal year (starts in April), named by its starting year.",
        "fiscal_quarter": "Quarter of the UK fiscal year.",
        "is_weekend": "Saturday or Sunday.",
        "is_bank_holiday": "A bank holiday in England and Wales.",
        "bank_holiday_name": "Name of the bank holiday.",
        "season": "Meteorological season (northern hemisphere).",
    },
    "gold.dim_time": {
        "hour": "Hour (0-23).",
        "minute": "Minute (0-59).",
        "day_part": "Part of the day (morning, afternoon, ...).",
        "is_business_hour": "Between 09:00 and 17:59.",
    },
    "gold.dim_country": {
        "iso2": "ISO 3166-1 alpha-2 code.",
        "iso3": "ISO 3166-1 alpha-3 code.",
        "region": "World region.",
        "continent": "Continent.",
        "currency": "Currency code (ISO 4217).",
        "is_eu_member": "Member of the European Union.",
    },
    "gold.dim_product": {
        "description": "The product's current (most recent) description.",
        "typical_price": "Most common unit price of the product's sale lines.",
        "first_sold": "Time of the product's first sale.",
        "last_sold": "Time of the product's last sale.",
    },
    "gold.dim_invoice": {"line_count": "Lines on the invoice."},
    "gold.mart_daily_sales": {
        "sale_date": "The day.",
        "gross_revenue_dod_pct": "Change of gross revenue against the previous day, in percent.",
        "gross_revenue_7d_avg": "Average gross revenue of the 7 days up to this one.",
    },
    "gold.mart_customer_rfm": {
        "recency_days": "Days from the last purchase to the as-of date.",
        "frequency": "Distinct invoices with a sale line.",
        "monetary": "Gross revenue of the customer.",
        "r_score": "Recency score 1-5 (5 = most recent).",
        "f_score": "Frequency score 1-5.",
        "m_score": "Monetary score 1-5.",
        "rfm_segment": "Named segment from the three scores.",
        "lifetime_value": "Net revenue of the customer over all time.",
        "as_of_date": "Date the recency is measured at (the day after the last invoice).",
    },
    "gold.mart_product_performance": {
        "returned_units": "Units returned.",
        "return_rate": "returned_units / units.",
        "revenue_rank": "Rank by revenue within the month (1 = highest).",
        "abc_class": "A: top 80% of the month's revenue, B: next 15%, C: the rest.",
    },
    "gold.mart_cohort_retention": {
        "cohort_month": "Month of the customers' first purchase.",
        "months_since": "Months after the cohort month.",
        "cohort_size": "Customers in the cohort.",
        "active_customers": "Cohort customers who bought in that month.",
        "retention": "active_customers / cohort_size.",
    },
    "meta.runs": {
        "command": "The command (ingest, run, ...).",
        "started_at": "Start time (UTC).",
        "finished_at": "End time (UTC).",
        "status": "succeeded, failed, running or interrupted.",
        "rows": "Rows read and written per table.",
        "error": "The error of a failed run.",
        "engine": "Engine of the run (duckdb or spark).",
        "seconds": "Wall time in seconds.",
    },
    "meta.schema_history": {
        "changed_at": "When the change was recorded (UTC).",
        "table_name": "Table whose schema changed.",
        "source_file": "File whose layout caused the change.",
        "change": "Kind of change (initial, added_columns).",
        "columns": "Columns the change concerns.",
        "schema_version": "Schema version after the change.",
        "detail": "The source header that caused it.",
    },
    "meta.watermarks": {
        "consumer": "The layer that consumes bronze batches (silver, gold).",
        "batch_seq": "Highest batch the consumer has fully processed.",
        "updated_at": "When the watermark moved (UTC).",
    },
    "meta.quality_results": {
        "table_name": "Table the rule checks.",
        "rule": "Rule name.",
        "dimension": "Quality dimension (completeness, validity, ...).",
        "action": "What a failing line gets: warn, quarantine or fail.",
        "weight": "Weight of the rule in the score.",
        "lines_checked": "Lines the rule was evaluated on.",
        "lines_failed": "Lines failing the rule.",
        "score": "Share of lines passing, 0-100.",
        "checked_at": "When the rule was evaluated (UTC).",
    },
    "meta.quality_scores": {
        "table_name": "Table scored.",
        "scope": "overall or dimension.",
        "name": "Name of the dimension (or overall).",
        "score": "Score 0-100.",
        "grade": "Letter grade of the score.",
        "lines_checked": "Lines scored.",
        "computed_at": "When the score was computed (UTC).",
    },
    "meta.alerts": {
        "alert_id": "Alert id.",
        "raised_at": "When the alert was raised (UTC).",
        "kind": "Condition that raised it.",
        "severity": "warning or critical.",
        "message": "What happened, in words.",
        "value": "The measured value.",
        "baseline": "The value it was compared with.",
        "delivered": "Whether a channel accepted it.",
        "delivery_error": "Why delivery failed.",
        "condition": "The condition the alert is about (one open alert per condition).",
        "channels": "Channels the alert was delivered to.",
        "attempts": "Delivery attempts so far.",
        "next_attempt_at": "When delivery is tried again (UTC), while a channel is down.",
        "resolved_at": "When the condition cleared (UTC).",
        "subject": "One-line summary (the e-mail subject).",
    },
}


def table_description(qualified: str) -> str:
    """The table's description ('' when none is written)."""
    return TABLES.get(qualified, "")


def column_description(qualified: str, column: str) -> str:
    """The column's description in that table ('' when none is written)."""
    return TABLE_COLUMNS.get(qualified, {}).get(column) or COLUMNS.get(column, "")
