"""``_record_hash`` follows its documented definition, computed independently with hashlib
over the raw values bronze stored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline.bronze import ingest_file


def _expected(row: dict[str, str | None]) -> str:
    text = "\x1f".join("\\N" if row[c] is None else str(row[c]) for c in RAW_COLUMNS)
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def test_record_hash_is_md5_of_the_raw_columns_as_stored(tmp_path: Path) -> None:
    records = [
        ["536365", "85123A", "WHITE HANGING HEART", "6", "12/1/2010 8:26", "2.55", "17850"],
        ["536365", "71053", "WHITE METAL LANTERN", "6", "12/1/2010 8:26", "3.39", None],
        [None, "22633", "", "x", None, "1,5", "17850.0"],
        ["C536379", "D", "Discount", "-1", "2010-12-01 09:41:00", "27.50", "14527"],
    ]
    countries = ["United Kingdom", "EIRE", "Fran\u00e7e", "United Kingdom"]
    source = tmp_path / "lines.ndjson"
    source.write_text(
        "".join(
            json.dumps(dict(zip(RAW_COLUMNS, [*values, country], strict=True))) + "\n"
            for values, country in zip(records, countries, strict=True)
        ),
        encoding="utf-8",
    )
    lake = Lake(tmp_path / "lake")
    with recorded_run(lake, "test") as run:
        ingest_file(lake, source, run)

    table = lake.delta("bronze.sales_lines")
    assert table is not None
    stored = sorted(table.to_pyarrow_table().to_pylist(), key=lambda r: r["_row_number"])
    assert [r["invoice_no"] for r in stored] == ["536365", "536365", None, "C536379"]
    assert [r["_record_hash"] for r in stored] == [_expected(r) for r in stored]
    assert len({r["_record_hash"] for r in stored}) == 4
