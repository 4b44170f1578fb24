"""Hand-made bronze lines for silver tests, written as real Delta tables (like ``retail ingest``).

Every raw value is text exactly as a file would carry it; lineage columns are filled the way
bronze fills them, one batch per call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, BRONZE_SALES_LINES, RAW_COLUMNS

Row = dict[str, str | None]


def raw(
    invoice_no: str | None = "536365",
    stock_code: str | None = "85123A",
    description: str | None = "WHITE HANGING HEART T-LIGHT HOLDER",
    quantity: str | None = "6",
    invoice_date: str | None = "12/1/2010 8:26",
    unit_price: str | None = "2.55",
    customer_id: str | None = "17850",
    country: str | None = "United Kingdom",
) -> Row:
    """One raw line (a typical UCI line unless told otherwise)."""
    return {
        "invoice_no": invoice_no,
        "stock_code": stock_code,
        "description": description,
        "quantity": quantity,
        "invoice_date": invoice_date,
        "unit_price": unit_price,
        "customer_id": customer_id,
        "country": country,
    }


def write_batch(lake: Lake, rows: Sequence[Row], *, seq: int, name: str | None = None) -> None:
    """Append ``rows`` to bronze as batch ``seq`` (lines numbered from 2, after a header)."""
    source = name or f"batch{seq}.csv"
    n = len(rows)
    now = datetime.now(UTC)
    sha = hashlib.sha256(f"{source}{seq}".encode()).hexdigest()
    columns: dict[str, Any] = {c: [r[c] for r in rows] for c in RAW_COLUMNS}
    columns.update(
        {
            "_source_file": [source] * n,
            "_source_sha256": [sha] * n,
            "_batch_id": [f"batch-{seq}"] * n,
            "_batch_seq": [seq] * n,
            "_row_number": list(range(2, n + 2)),
            "_ingested_at": [now] * n,
            "_record_hash": [hashlib.md5(repr(r).encode()).hexdigest() for r in rows],
            "_schema_version": [1] * n,
        }
    )
    lake.write(BRONZE_SALES_LINES.qualified, pa.table(columns))
    manifest = {
        "_batch_id": [f"batch-{seq}"],
        "_batch_seq": [seq],
        "_source_file": [source],
        "_source_sha256": [sha],
        "format": ["csv"],
        "encoding": ["utf-8"],
        "delimiter": [","],
        "size_bytes": [0],
        "rows_ingested": [n],
        "rows_rejected": [0],
        "extra_columns": [[]],
        "run_id": ["test"],
        "_ingested_at": [now],
    }
    lake.write(BRONZE_FILES.qualified, pa.table(manifest))
