"""Bronze contracts: raw lines as read, rejects, and the ingestion manifest."""

from __future__ import annotations

import pyarrow as pa

from retail_lakehouse.lake.contracts.base import STR, TS, TableContract, register

RAW_COLUMNS: tuple[str, ...] = (
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
    "country",
)
"""Canonical raw columns of bronze, in order; all strings exactly as read."""

LINEAGE_COLUMNS: tuple[str, ...] = (
    "_source_file",
    "_source_sha256",
    "_batch_id",
    "_batch_seq",
    "_row_number",
    "_ingested_at",
    "_record_hash",
    "_schema_version",
)

BRONZE_SALES_LINES = TableContract(
    "bronze",
    "sales_lines",
    pa.schema(
        [pa.field(c, STR) for c in RAW_COLUMNS]
        + [
            pa.field("_source_file", STR, nullable=False),
            pa.field("_source_sha256", STR, nullable=False),
            pa.field("_batch_id", STR, nullable=False),
            pa.field("_batch_seq", pa.int64(), nullable=False),
            pa.field("_row_number", pa.int64(), nullable=False),
            pa.field("_ingested_at", TS, nullable=False),
            pa.field("_record_hash", STR, nullable=False),
            pa.field("_schema_version", pa.int32(), nullable=False),
        ]
    ),
    append_only=True,
    evolves=True,
)

BRONZE_REJECTS = TableContract(
    "bronze",
    "rejects",
    pa.schema(
        [
            pa.field("_source_file", STR, nullable=False),
            pa.field("_source_sha256", STR, nullable=False),
            pa.field("_batch_id", STR, nullable=False),
            pa.field("_batch_seq", pa.int64(), nullable=False),
            pa.field("line_number", pa.int64()),
            pa.field("raw_line", STR),
            pa.field("reason", STR, nullable=False),
            pa.field("_ingested_at", TS, nullable=False),
        ]
    ),
    append_only=True,
)

FORMAT_COLUMNS = (
    "date_order",
    "date_order_source",
    "date_pattern",
    "decimal_separator",
    "decimal_separator_source",
    "thousands_separator",
    "quantity_decimal_separator",
    "quantity_decimal_separator_source",
    "quantity_thousands_separator",
)
"""The per-file (and per-sheet) format columns of ``bronze.files``: how its values were written."""

PER_SHEET = "per-sheet"
"""A workbook's ``bronze.files`` format value when its sheets differ (see ``sheet_formats``)."""

UNDATED_FIELDS = (pa.field("undated_lines", pa.int64()), pa.field("undated_example", STR))
"""Lines whose date reads in neither order, and the first of them, as the ingest's note said
them: ``retail status`` says the same note from the manifest (NULL: a lake from before)."""

SHEET_FORMATS = pa.struct(
    [
        pa.field("sheet", STR),
        *(pa.field(name, STR) for name in FORMAT_COLUMNS),
        *UNDATED_FIELDS,
    ]
)
"""The formats of one sheet of a workbook (``bronze.files.sheet_formats``, one per sheet): a
workbook's sheets are decided one by one; the file's own columns hold the value they share, or
``per-sheet`` where they differ."""

BRONZE_FILES = TableContract(
    "bronze",
    "files",
    pa.schema(
        [
            pa.field("_batch_id", STR, nullable=False),
            pa.field("_batch_seq", pa.int64(), nullable=False),
            pa.field("_source_file", STR, nullable=False),
            pa.field("_source_sha256", STR, nullable=False),
            pa.field("content_sha256", STR),
            pa.field("format", STR, nullable=False),
            pa.field("encoding", STR),
            pa.field("delimiter", STR),
            pa.field("size_bytes", pa.int64(), nullable=False),
            pa.field("rows_ingested", pa.int64(), nullable=False),
            pa.field("rows_rejected", pa.int64(), nullable=False),
            pa.field("extra_columns", pa.list_(STR)),
            pa.field("date_order", STR),
            pa.field("date_order_source", STR),
            pa.field("date_pattern", STR),
            pa.field("decimal_separator", STR),
            pa.field("decimal_separator_source", STR),
            pa.field("thousands_separator", STR),
            pa.field("quantity_decimal_separator", STR),
            pa.field("quantity_decimal_separator_source", STR),
            pa.field("quantity_thousands_separator", STR),
            pa.field("sheet_formats", pa.list_(SHEET_FORMATS)),
            pa.field("run_id", STR, nullable=False),
            pa.field("_ingested_at", TS, nullable=False),
            *UNDATED_FIELDS,
        ]
    ),
    append_only=True,
    evolves=True,  # lakes from before the format columns get them on the next ingest
)
"""The ingestion manifest. Its commit is the last step of ingesting a file: a file is in bronze
exactly when its hash is here, so a crash mid-file is cleaned up and retried, never doubled.
``content_sha256`` hashes what the readers read (a compressed file's decompressed content), so
the same export plain and compressed is ingested once (NULL: rows from before it, or a stream
batch; their content is ``_source_sha256``)."""


BRONZE_CDC_EVENTS = TableContract(
    "bronze",
    "cdc_events",
    pa.schema(
        [
            pa.field("line_id", STR),
            pa.field("op", STR),
            pa.field("log_position", pa.int64()),
            pa.field("source_ts_ms", pa.int64()),
            *[pa.field(c, STR) for c in RAW_COLUMNS],
            pa.field("reason", STR),
            pa.field("_source_file", STR, nullable=False),
            pa.field("_row_number", pa.int64(), nullable=False),
            pa.field("_ingested_at", TS, nullable=False),
            pa.field("_run_id", STR, nullable=False),
        ]
    ),
    append_only=True,
)
"""Change events (Debezium envelopes) exactly as received, duplicates included: the input of
``silver.cdc_history`` and ``silver.cdc_lines``."""


for _contract in (BRONZE_SALES_LINES, BRONZE_REJECTS, BRONZE_FILES, BRONZE_CDC_EVENTS):
    register(_contract)
