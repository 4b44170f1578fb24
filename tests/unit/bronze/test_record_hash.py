"""``_record_hash`` follows its documented definition, computed independently with hashlib."""

from __future__ import annotations

import hashlib

import polars as pl

from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS
from retail_lakehouse.pipeline.bronze import record_hashes


def _expected(row: dict[str, str | None]) -> str:
    text = "\x1f".join("\\N" if row[c] is None else str(row[c]) for c in RAW_COLUMNS)
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def test_record_hash_is_md5_of_the_raw_columns_in_row_order() -> None:
    rows = pl.DataFrame(
        {
            "invoice_no": ["536365", "536365", None, "C536379"],
            "stock_code": ["85123A", "71053", "22633", "D"],
            "description": ["WHITE HANGING HEART", "WHITE METAL LANTERN", "", "Discount"],
            "quantity": ["6", "6", "x", "-1"],
            "invoice_date": ["12/1/2010 8:26", "12/1/2010 8:26", None, "2010-12-01 09:41:00"],
            "unit_price": ["2.55", "3.39", "1,5", "27.50"],
            "customer_id": ["17850", None, "17850.0", "14527"],
            "country": ["United Kingdom", "EIRE", "Fran\u00e7e", "United Kingdom"],
        }
    )
    hashes = record_hashes(rows).to_pylist()
    assert hashes == [_expected(row) for row in rows.iter_rows(named=True)]
    assert len(set(hashes)) == 4
