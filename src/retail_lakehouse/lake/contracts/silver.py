"""Silver contracts: one typed, standardised, scored line per distinct bronze line."""

from __future__ import annotations

import pyarrow as pa

from retail_lakehouse.lake.contracts.base import (
    LOCAL_TS,
    MONEY,
    PRICE,
    STR,
    TS,
    TableContract,
    register,
)

NON_PRODUCT_STOCK_CODES: tuple[str, ...] = (
    "POST",
    "DOT",
    "M",
    "C2",
    "D",
    "CRUK",
    "BANK CHARGES",
    "AMAZONFEE",
    "S",
    "PADS",
    "B",
)
"""Stock codes that are not merchandise (postage, manual entries, fees, discounts, bad debt).

Defined once here: silver sets ``is_non_product`` from it and gold reuses it for
``dim_product``. Codes are compared after trimming and upper-casing."""

BUSINESS_COLUMNS: tuple[str, ...] = (
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "unit_price",
    "invoice_ts",
    "customer_id",
    "country",
)
"""The columns that define a sale: two lines equal in all of them (after standardisation) are
exact duplicates, and ``_line_key`` is the first 64 bits of their MD5 (``pipeline.hashing``)."""

_TYPED_FIELDS = [
    pa.field("invoice_no", STR),
    pa.field("stock_code", STR),
    pa.field("description", STR),
    pa.field("quantity", pa.int64()),
    pa.field("unit_price", PRICE),
    pa.field("invoice_ts", LOCAL_TS),  # shop-local wall-clock time, as exported
    pa.field("customer_id", STR),
    pa.field("country", STR),
    pa.field("country_code", STR),
    pa.field("line_amount", MONEY),
    pa.field("is_cancellation", pa.bool_()),
    pa.field("is_return", pa.bool_()),
    pa.field("is_adjustment", pa.bool_()),
    pa.field("is_non_product", pa.bool_()),
    pa.field("is_guest", pa.bool_()),
    pa.field("quality_score", pa.int32()),
    pa.field("quality_flags", pa.list_(STR)),
]
_LINEAGE_FIELDS = [
    pa.field("_line_key", pa.int64(), nullable=False),  # 64 bits of the business columns' MD5
    pa.field("_batch_id", STR, nullable=False),
    pa.field("_batch_seq", pa.int64(), nullable=False),
    pa.field("_row_number", pa.int64(), nullable=False),
    pa.field("_record_hash", pa.int64(), nullable=False),  # 64 bits of bronze's MD5 hex
    pa.field("_source_file", STR, nullable=False),
    pa.field("_run_id", STR, nullable=False),
    pa.field("_processed_at", TS, nullable=False),
]

SILVER_SALES_LINES = TableContract(
    "silver",
    "sales_lines",
    pa.schema(_TYPED_FIELDS + _LINEAGE_FIELDS),
)

SILVER_QUARANTINE = TableContract(
    "silver",
    "quarantine",
    pa.schema(
        _TYPED_FIELDS
        + [
            pa.field("quarantine_reasons", pa.list_(STR)),  # the quarantine rules it failed
            pa.field("raw_quantity", STR),
            pa.field("raw_unit_price", STR),
            pa.field("raw_invoice_date", STR),
            pa.field("raw_country", STR),
        ]
        + _LINEAGE_FIELDS
    ),
)

SILVER_DUPLICATES = TableContract(
    "silver",
    "duplicates",
    pa.schema(
        [
            pa.field("_batch_seq", pa.int64(), nullable=False),
            pa.field("_batch_id", STR, nullable=False),
            pa.field("_row_number", pa.int64(), nullable=False),
            pa.field("_line_key", pa.int64(), nullable=False),
            pa.field("kept_batch_seq", pa.int64(), nullable=False),
            pa.field("kept_row_number", pa.int64(), nullable=False),
            pa.field("_run_id", STR, nullable=False),
            # NULL in rows of lakes from before them (decision 0002, fifteenth round)
            pa.field("_source_file", STR),
            pa.field("kept_source_file", STR),
        ]
    ),
    evolves=True,  # lakes from before the source-file columns get them on the next run
)
"""Every removed exact duplicate, pointing at the line that was kept: the third term of the
accounting identity bronze = silver + quarantine + duplicates, and the proof of each removal.
Batch and row alone do not name a workbook's line (its sheets are one batch and each number
their rows from 1), so both lines' ``_source_file`` (``book.xlsx#Sheet``) are kept too."""

for _contract in (SILVER_SALES_LINES, SILVER_QUARANTINE, SILVER_DUPLICATES):
    register(_contract)


# -- change data capture (issue 22 part 2, decision 0018) ------------------------------------
def _cdc_image() -> list[pa.Field]:
    from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS

    return [pa.field(c, STR) for c in RAW_COLUMNS]


SILVER_CDC_HISTORY = TableContract(
    "silver",
    "cdc_history",
    pa.schema(
        [
            pa.field("line_id", STR, nullable=False),
            pa.field("op", STR, nullable=False),
            pa.field("log_position", pa.int64(), nullable=False),
            pa.field("source_ts_ms", pa.int64()),
            *_cdc_image(),
            pa.field("valid_from", TS),
            pa.field("valid_to", TS),
            pa.field("valid_to_position", pa.int64()),
            pa.field("is_current", pa.bool_(), nullable=False),
            pa.field("is_deleted", pa.bool_(), nullable=False),
            pa.field("_key_bucket", pa.int32(), nullable=False),
            pa.field("_run_id", STR, nullable=False),
        ]
    ),
    primary_key=("line_id", "log_position"),
)
"""Every distinct change of every source line, in source (log position) order, valid from its
position to the next one's: the full history the current state is derived from."""

SILVER_CDC_LINES = TableContract(
    "silver",
    "cdc_lines",
    pa.schema(
        [
            pa.field("line_id", STR, nullable=False),
            *_cdc_image(),
            pa.field("op", STR, nullable=False),
            pa.field("log_position", pa.int64(), nullable=False),
            pa.field("source_ts_ms", pa.int64()),
            pa.field("is_deleted", pa.bool_(), nullable=False),
            pa.field("_key_bucket", pa.int32(), nullable=False),
            pa.field("_run_id", STR, nullable=False),
        ]
    ),
    primary_key=("line_id",),
)
"""The current state of every source line: its change with the highest log position; a deleted
line stays as a tombstone (``is_deleted``)."""

for _contract in (SILVER_CDC_HISTORY, SILVER_CDC_LINES):
    register(_contract)
