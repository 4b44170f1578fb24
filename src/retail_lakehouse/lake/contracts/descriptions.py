"""What every table and column means, written once, beside the contracts.

These texts flow everywhere a person or a tool reads about the data: the Delta table metadata
(table description, column ``comment``), ``retail catalog``, the OpenLineage documentation and
schema facets, the API's OpenAPI document and the PostgreSQL comments of ``retail publish``.
A column shared by several tables (the lineage columns, the business columns carried from
silver into gold) is described once in :data:`COLUMNS`; a table can say more in
:data:`TABLE_COLUMNS`.
"""

from __future__ import annotations

TABLES: dict[str, str] = {
    "meta.retractions": (
        "Files taken back out of the lake (retract or ingest --replaces): one row per retracted "
        "batch; silver and gold remove its lines on their next run."
    ),
    "meta.publish_state": (
        "What each retail publish put where: one row per gold table per publish that wrote."
    ),
    "bronze.sales_lines": (
        "Every parsed line of every ingested file, exactly as read (all values are text), with "
        "lineage back to the file and line. Append-only."
    ),
    "bronze.rejects": (
        "Lines that could not be parsed at all, with the file, line number, raw text and reason."
    ),
    "bronze.files": (
        "The ingestion manifest: one row per ingested file or stream micro-batch (content hash, "
        "format, counts). A batch is in bronze exactly when its row is here; a stream batch's "
        "commit also carries the stream position (Delta transaction identifier)."
    ),
    "bronze.cdc_events": (
        "Change events (Debezium envelopes) exactly as received from retail ingest --cdc, "
        "duplicates included: one row per event, with the row image's values as text."
    ),
    "silver.cdc_history": (
        "Every distinct change of every source line, in source (log position) order, valid from "
        "its position until the next change's."
    ),
    "silver.cdc_lines": (
        "The current state of every source line: its change with the highest log position; a "
        "deleted line stays as a tombstone."
    ),
    "silver.sales_lines": (
        "Typed, standardised, deduplicated and quality-scored sales lines: one row per distinct "
        "bronze line that passed every quarantine rule."
    ),
    "silver.quarantine": (
        "Lines that failed at least one quarantine rule, with every failed rule named and the raw "
        "values kept."
    ),
    "silver.duplicates": (
        "Exact duplicate lines removed from silver, each pointing at the line that was kept."
    ),
    "gold.dim_date": (
        "One row per day of every whole year the data touches, plus the unknown date (key 0)."
    ),
    "gold.dim_time": (
        "One row per minute of the day (time_key hhmm), plus the unknown time (key -1)."
    ),
    "gold.dim_country": (
        "One row per canonical country, with ISO codes, region and currency; key 0 unknown."
    ),
    "gold.dim_product": (
        "One row per stock code with its current attributes (SCD type 1); key 0 unknown."
    ),
    "gold.dim_customer": (
        "Customers with their country history (SCD type 2): one row per version; key 0 is the "
        "unknown member (guests)."
    ),
    "gold.dim_invoice": "One row per invoice number; key 0 is the unknown invoice.",
    "gold.fact_sales": (
        "One row per sales line (the grain of silver), with keys to every dimension."
    ),
    "gold.mart_daily_sales": (
        "Daily sales by country: revenue, returns, orders, customers, units and trends."
    ),
    "gold.mart_customer_rfm": (
        "Recency, frequency and monetary scores and segment of every customer with a sale."
    ),
    "gold.mart_product_performance": (
        "Product performance by month: revenue, units, orders, returns, rank and ABC class."
    ),
    "gold.mart_cohort_retention": "Customer retention by first-purchase month and months since.",
    "gold.customer_summary": (
        "Internal: per customer with a product line, first and last sale, distinct sale "
        "invoices and spend, kept up to date from new fact rows (feeds the RFM mart)."
    ),
    "gold.customer_months": (
        "Internal: one row per customer and month with a sale line, kept up to date from new "
        "fact rows (feeds the cohort retention mart)."
    ),
    "gold.product_prices": (
        "Internal: per silver batch, stock code and price, the charged lines at that price, "
        "kept up to date by each run (feeds dim_product's typical price)."
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
    "_row_number": "Line number within the source file (the stream sequence for a stream batch).",
    "_ingested_at": "When the file was ingested (UTC).",
    "_record_hash": (
        "Hash of the line's raw business columns: their MD5 as 32 hex digits in bronze, its "
        "first 64 bits as a 64-bit integer in silver."
    ),
    "_schema_version": "Version of bronze's schema the line was written with.",
    "_line_key": (
        "Key of the line's business values, the first 64 bits of their MD5 as a 64-bit integer "
        "(equal keys are exact duplicates)."
    ),
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

_CDC_COLUMNS = {
    "line_id": "The source system's id of the sale line (the change events' key).",
    "op": "Debezium operation: c create, u update, d delete, r snapshot read.",
    "log_position": "Position of the change in the source's log (lsn, pos or sequence).",
    "source_ts_ms": "When the change happened in the source (milliseconds since the epoch).",
    "_key_bucket": "Bucket of the line id (0-255, from its MD5): the unit a CDC ingest rewrites.",
    "is_deleted": "The change is a delete: the line is gone from the source (a tombstone).",
}

TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "bronze.cdc_events": {
        **_CDC_COLUMNS,
        "_source_file": "Change-log file the event came from.",
        "_row_number": "Line number of the event within its file.",
        "_ingested_at": "When the change log was ingested (UTC).",
        "reason": "Why the event could not be applied (stream only; a file is refused instead).",
    },
    "silver.cdc_history": {
        **_CDC_COLUMNS,
        "valid_from": "When this change happened in the source (from source_ts_ms).",
        "valid_to": "When the next change of the line happened; NULL for the current one.",
        "valid_to_position": "Log position of the next change of the line; NULL when current.",
        "is_current": "This change is the line's current state.",
    },
    "silver.cdc_lines": dict(_CDC_COLUMNS),
    "meta.retractions": {
        "retraction_id": "Increasing number of the retraction.",
        "batch_seq": "The retracted batch (never given to a new file again).",
        "batch_id": "The retracted batch's id.",
        "source_file": "File the batch came from.",
        "source_sha256": "SHA-256 of that file's content.",
        "lines": "Bronze lines removed.",
        "rejects": "Rejected lines removed.",
        "retracted_at": "When the batch was retracted (UTC).",
        "replaced_by": "The file ingested in its place (ingest --replaces), if any.",
    },
    "meta.publish_state": {
        "published_at": "When the target committed the publish (UTC).",
        "target": "The PostgreSQL target (user@host:port/db and schema; never a password).",
        "lake_id": "Identity of the lake that published (Delta table id of bronze.sales_lines).",
        "table_name": "Gold table published.",
        "delta_version": "Delta version of the table that was published.",
        "mode": "full or incremental.",
        "action": "loaded, synced, batches or unchanged.",
        "rows_written": "Rows copied into PostgreSQL.",
        "rows_deleted": "Rows deleted from PostgreSQL.",
        "batches": "Fingerprint of each published fact batch (JSON).",
    },
    "bronze.rejects": {
        "line_number": "Line number of the rejected line in its file (an event's stream sequence).",
        "raw_line": "The rejected line's raw text.",
        "reason": "Why the line could not be parsed.",
    },
    "bronze.files": {
        "content_sha256": (
            "SHA-256 of the content the readers read: a compressed file's decompressed bytes, "
            "else the file's (NULL before this column existed, and for stream batches)."
        ),
        "format": "Detected file format.",
        "encoding": "Detected text encoding.",
        "delimiter": "Detected field delimiter.",
        "size_bytes": "File size in bytes.",
        "rows_ingested": "Lines written to bronze.sales_lines.",
        "rows_rejected": "Lines written to bronze.rejects.",
        "extra_columns": "Source columns beyond the canonical ones, kept as text.",
        "date_order": (
            "How the file writes its dates: mdy (month first), dmy (day first) or ymd; silver "
            "parses every line of the file this way (per-sheet: a workbook whose sheets differ, "
            "see sheet_formats)."
        ),
        "date_order_source": (
            "Where date_order came from: declared (--date-order or retail.toml), inferred (a "
            "value that reads only one way) or assumed (every date reads both ways: the default)."
        ),
        "date_pattern": "The file's most common date and time spelling, e.g. DD.MM.YYYY HH.MM.",
        "decimal_separator": "The file's decimal separator: '.' or ','.",
        "decimal_separator_source": "Where decimal_separator came from: declared, inferred or "
        "assumed (no price decides: '.').",
        "thousands_separator": "Thousands separator seen in the file's prices, if any.",
        "quantity_decimal_separator": "The decimal separator of the file's quantities, decided "
        "from the quantity column ('1.234' groups thousands with a dot: ','), else the prices'.",
        "quantity_decimal_separator_source": "Where quantity_decimal_separator came from: "
        "declared, inferred, or the prices' source when no quantity decides.",
        "quantity_thousands_separator": "Thousands separator seen in the quantities, if any.",
        "sheet_formats": "A workbook's formats, one entry per sheet (each sheet is decided on "
        "its own values); NULL for files without sheets.",
        "undated_lines": "Lines whose date reads in neither order (13/45/2011): they decide no "
        "date order (NULL: ingested before this column existed).",
        "undated_example": "The first such line and its value, as the ingest's note said it.",
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
        "_source_file": "File of the removed line (a workbook's: book.xlsx#Sheet).",
        "kept_source_file": "File of the line that was kept (a workbook's: book.xlsx#Sheet).",
    },
    "gold.dim_date": {
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
        "date_key": "Surrogate key yyyymmdd; 0 is the unknown date.",
    },
    "gold.dim_time": {
        "hour": "Hour, 0-23.",
        "minute": "Minute, 0-59.",
        "day_part": "Night, Morning, Afternoon or Evening.",
        "is_business_hour": "Between 09:00 and 17:59.",
        "time_key": "Surrogate key hhmm; -1 is the unknown time.",
    },
    "gold.dim_country": {
        "iso2": "ISO 3166-1 alpha-2 code.",
        "iso3": "ISO 3166-1 alpha-3 code.",
        "region": "Region of the world.",
        "continent": "Continent.",
        "currency": "ISO 4217 currency code.",
        "is_eu_member": "Member of the European Union.",
        "country_key": (
            "Surrogate key: 64 bits of the SHA-256 of the canonical country name; 0 is unknown."
        ),
        "country": "Canonical country name.",
    },
    "gold.dim_product": {
        "description": "Most recent non-empty description.",
        "typical_price": "Median unit price of the code's charged lines.",
        "first_sold": "Date of the first charged line.",
        "last_sold": "Date of the last charged line.",
        "product_key": "Surrogate key: 64 bits of the SHA-256 of the stock code; 0 is unknown.",
        "stock_code": "The product's stock code (natural key).",
        "category": "Category from the description's keywords; Non-product for fees.",
        "is_non_product": "Postage, fees, adjustments and other non-product codes.",
    },
    "gold.dim_invoice": {
        "line_count": "Number of lines on the invoice.",
        "invoice_key": "Surrogate key: 64 bits of the SHA-256 of the invoice number; 0 is unknown.",
        "invoice_no": "The invoice number (natural key); C... are cancellations.",
        "invoice_ts": "Earliest timestamp of the invoice's lines.",
        "customer_id": "The invoice's customer (smallest id if lines disagree).",
        "country": "The invoice's country (smallest name if lines disagree).",
        "is_cancellation": "A cancellation invoice (number starts with C).",
        "is_adjustment": "An adjustment (A invoices, bad-debt lines).",
    },
    "gold.mart_daily_sales": {
        "sale_date": "The day.",
        "gross_revenue_dod_pct": "Change against the country's previous trading day, in %.",
        "gross_revenue_7d_avg": "Gross revenue over the 7 calendar days ending here, / 7.",
        "country": "Canonical country name; Unknown when missing.",
        "gross_revenue": "Sum of line_amount over sale lines.",
        "returns_amount": "Amount of return lines, as a positive number.",
        "net_revenue": "gross_revenue - returns_amount.",
        "orders": "Distinct invoices among sale lines.",
        "customers": "Distinct non-guest customers among sale lines.",
        "units": "Units sold.",
        "avg_order_value": "gross_revenue / orders.",
    },
    "gold.mart_customer_rfm": {
        "recency_days": "Days from the last sale to as_of_date.",
        "frequency": "Distinct invoices among the customer's sale lines.",
        "monetary": "Sum of line_amount over the customer's product lines (net of returns).",
        "r_score": "Recency quintile, 5 = most recent.",
        "f_score": "Frequency quintile, 5 = most frequent.",
        "m_score": "Monetary quintile, 5 = highest spend.",
        "rfm_segment": "Named segment (Champions, At Risk, ...).",
        "lifetime_value": "Spend rate annualised over tenure, projected over three years.",
        "as_of_date": "The day after the last invoice in the data.",
        "customer_id": "The customer.",
        "country": "The customer's current country.",
        "first_purchase": "First sale line.",
        "last_purchase": "Last sale line.",
    },
    "gold.mart_product_performance": {
        "returned_units": "Units returned.",
        "return_rate": "returned_units / units; NULL when nothing sold.",
        "revenue_rank": "1 = highest revenue of the month.",
        "abc_class": "A: top 80% of the month's revenue, B: next 15%, C: the rest.",
        "month": "First day of the month.",
        "stock_code": "The product's stock code.",
        "product_key": "Key of the product in dim_product.",
        "description": "Current description.",
        "category": "Current category.",
        "revenue": "Gross revenue of sale lines.",
        "units": "Units sold.",
        "orders": "Distinct sale invoices.",
        "returns_amount": "Amount returned, as a positive number.",
    },
    "gold.mart_cohort_retention": {
        "cohort_month": "Month of the customers' first sale line.",
        "months_since": "Months after the cohort month.",
        "cohort_size": "Customers in the cohort.",
        "active_customers": "Of them, customers with a sale line in that month.",
        "retention": "active_customers / cohort_size.",
    },
    "gold.customer_summary": {
        "customer_id": "The customer.",
        "first_purchase": "First sale line (NULL: returns only).",
        "last_purchase": "Last sale line (NULL: returns only).",
        "frequency": "Distinct invoices among the customer's sale lines.",
        "monetary": "Sum of line_amount over the customer's product lines (net of returns).",
    },
    "gold.customer_months": {
        "customer_id": "The customer.",
        "month": "First day of a month with a sale line of the customer.",
    },
    "gold.product_prices": {
        "stock_code": "The stock code.",
        "unit_price": "A price the code was charged at (charged lines with a positive price).",
        "lines": "The batch's charged lines of the code at that price.",
        "_batch_seq": "The silver batch of those lines.",
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
        "time_zone": "The lake's time zone the consumer's tables were built in (NULL: UTC).",
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
    "gold.dim_customer": {
        "customer_key": (
            "Surrogate key: 64 bits of the SHA-256 of customer id and valid_from; 0 is unknown."
        ),
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
    "gold.fact_sales": {
        "line_key": (
            "Surrogate key of the line: silver's _line_key, the first 64 bits of the MD5 of its "
            "business columns as a 64-bit integer."
        ),
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
        "_batch_seq": "The bronze batch (ingested file) the line came from.",
        "_run_id": "The retail run that wrote the row.",
    },
}


def table_description(qualified: str) -> str:
    """The table's description ('' when none is written)."""
    return TABLES.get(qualified, "")


def column_description(qualified: str, column: str) -> str:
    """The column's description in that table ('' when none is written)."""
    return TABLE_COLUMNS.get(qualified, {}).get(column) or COLUMNS.get(column, "")
