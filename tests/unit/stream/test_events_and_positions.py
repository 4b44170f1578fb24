"""Units of the stream path: event parsing (layouts, rejects, limits), positions in the Delta
log, and the CLI's import chain staying free of the broker client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES, RAW_COLUMNS
from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.stream.base import StreamRecord
from retail_lakehouse.sources.stream.events import parse_events

LINE = {
    "InvoiceNo": "536365",
    "StockCode": "85123A",
    "Description": "WHITE HANGING HEART",
    "Quantity": 6,
    "InvoiceDate": "12/1/2010 8:26",
    "UnitPrice": 2.55,
    "CustomerID": 17850,
    "Country": "United Kingdom",
}
II = {
    "Invoice": "536366",
    "StockCode": "22633",
    "Description": None,
    "Quantity": "6",
    "InvoiceDate": "2010-12-01 08:28:00",
    "Price": "1.85",
    "Customer ID": None,
    "Country": "EIRE",
}


def records(*payloads: object) -> list[StreamRecord]:
    return [
        StreamRecord(0, offset, p if isinstance(p, bytes) else json.dumps(p).encode())
        for offset, p in enumerate(payloads, start=101)
    ]


def test_both_layouts_in_one_batch_land_in_the_canonical_columns() -> None:
    chunk, layout = parse_events(records(LINE, II, {**LINE, "Till No": "7"}))
    rows = chunk.rows.to_dicts()
    assert [r["invoice_no"] for r in rows] == ["536365", "536366", "536365"]
    assert [r["unit_price"] for r in rows] == ["2.55", "1.85", "2.55"]
    assert [r["customer_id"] for r in rows] == ["17850", None, "17850"]
    assert [r["_row_number"] for r in rows] == [101, 102, 103]  # the offsets
    assert [r["x_till_no"] for r in rows] == [None, None, "7"]
    assert layout.extra_columns == ["x_till_no"]
    assert layout.columns[:8] == list(RAW_COLUMNS)
    assert chunk.rejects.height == 0


def test_bad_events_are_rejected_with_offset_and_reason() -> None:
    deep = b'{"a": ' + b"[" * 200 + b"]" * 200 + b"}"
    chunk, _ = parse_events(
        records(b"{oops", b'"text"', b"\xc3\x28", {"InvoiceNo": "1"}, deep, LINE),
        ReaderLimits(max_json_depth=64),
    )
    rejects = chunk.rejects.to_dicts()
    assert [r["line_number"] for r in rejects] == [101, 102, 103, 104, 105]
    reasons = [r["reason"] for r in rejects]
    assert reasons[:3] == ["invalid JSON", "not a JSON object", "not UTF-8 text"]
    assert reasons[3].startswith("missing key(s): stock_code, description, quantity")
    assert "limits.max_json_depth" in reasons[4]
    assert chunk.rows.get_column("_row_number").to_list() == [106]


def test_extra_keys_past_the_limit_reject_the_events_that_bring_them() -> None:
    common = [{**LINE, "shop": "n"} for _ in range(3)]
    wide = {**LINE, **{f"k{i}": i for i in range(5)}}
    chunk, layout = parse_events(
        records(*common, wide), ReaderLimits(max_extra_columns=3), known_extra=["x_old"]
    )
    assert layout.extra_columns == ["x_shop"]  # the most used new key is admitted first
    assert chunk.rows.height == 3
    assert chunk.rejects.get_column("line_number").to_list() == [104]
    assert "limits.max_extra_columns" in chunk.rejects.get_column("reason")[0]


def test_a_position_is_committed_with_the_data_and_read_back(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    row = {
        "_batch_id": ["b1"],
        "_batch_seq": [1],
        "_source_file": ["s"],
        "_source_sha256": ["h"],
        "format": ["stream"],
        "size_bytes": [1],
        "rows_ingested": [1],
        "rows_rejected": [0],
        "run_id": ["r"],
        "_ingested_at": pa.array([0], pa.timestamp("us", tz="UTC")),
    }
    app = "retail.stream:nats:SALES:sales.lines:0"
    assert lake.transaction_version(BRONZE_FILES.qualified, app) is None
    lake.write(BRONZE_FILES.qualified, pa.table(row), transactions={app: 500})
    lake.write(BRONZE_FILES.qualified, pa.table(row))  # a commit without a position
    assert lake.transaction_version(BRONZE_FILES.qualified, app) == 500
    lake.write(BRONZE_FILES.qualified, pa.table(row), transactions={app: 900})
    assert lake.transaction_version(BRONZE_FILES.qualified, app) == 900
    assert lake.transaction_version(BRONZE_FILES.qualified, "other") is None


def test_the_cli_import_chain_does_not_load_the_broker_client() -> None:
    probe = "import sys, retail_lakehouse.cli.app; print('nats' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "False", done.stderr
