"""Each reader limit, on the smallest file that crosses it (the readers in this process: the
worker process around them is tested in test_sandbox.py and from the CLI)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from retail_lakehouse.sources.aliases import map_header
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.json_depth import line_depths
from retail_lakehouse.sources.limits import MIB, ReaderLimits
from retail_lakehouse.sources.readers import open_source
from retail_lakehouse.sources.tabular import check_workbook
from tests import hostile_files as hostile


def read_all(path: Path, limits: ReaderLimits | None = None) -> tuple[int, list[str]]:
    _, source = open_source(path, limits=limits)
    rows, reasons = 0, []
    for chunk in source.chunks:
        rows += chunk.rows.height
        reasons += chunk.rejects.get_column("reason").to_list()
    return rows, reasons


def test_thousands_of_duplicate_header_names_are_renamed_in_linear_time() -> None:
    header = [*hostile.HEADER.split(","), *["note"] * 20_000, *[""] * 20_000]
    clock = time.perf_counter()
    mapping, missing = map_header(header)
    assert time.perf_counter() - clock < 5  # probing one underscore at a time took 151 s for 8,000
    assert not missing and len(set(mapping.values())) == len(header)
    assert mapping[8] == "x_note" and mapping[9] == "x_note_" and mapping[10] == "x_note__"


def test_wide_headers_and_extra_columns_refuse_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match=r"8,008 columns, more than the 256 allowed"):
        read_all(hostile.empty_header_cells(tmp_path / "empty.csv"))
    few = hostile.duplicate_header(tmp_path / "dup.csv", names=40)
    with pytest.raises(FileRefused, match=r"40 extra columns .* more than the 32 allowed"):
        read_all(few)
    assert read_all(few, ReaderLimits(max_extra_columns=40))[0] == 1


def test_header_line_and_field_lengths(tmp_path: Path) -> None:
    long_header = tmp_path / "header.csv"
    long_header.write_text(hostile.HEADER + ",n" * 40_000 + "\n")
    with pytest.raises(FileRefused, match="header line longer than"):
        read_all(long_header)
    fields = hostile.good_csv(tmp_path / "fields.csv")
    text = fields.read_text().replace("WHITE HANGING HEART", "W" * 70_000, 1)
    fields.write_text(text)
    rows, reasons = read_all(fields)
    assert rows == 2 and reasons == ["a value longer than 65,536 bytes (limits.max_field_bytes)"]
    with pytest.raises(FileRefused, match="longer than 1,024 bytes"):
        read_all(fields, ReaderLimits(max_line_bytes=1024))


def test_json_depth_is_counted_outside_strings_only() -> None:
    import pyarrow as pa

    lines = ['{"a":"{{{[[["}', '{"a":"x\\"{{"}', '{"a":"x\\\\", "b":{"c":[1]}}', "[" * 5000]
    assert line_depths(pa.array(lines)).line_max.tolist() == [1, 1, 3, 5000]


def test_deep_and_wide_json_records(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match="nested deeper than 64 levels"):
        read_all(hostile.deep_json_array(tmp_path / "deep.json"))
    wide = hostile.wide_ndjson(tmp_path / "wide.ndjson", keys=2000)
    with wide.open("a") as out:  # a good line after the wide one is still ingested
        out.write(
            '{"InvoiceNo": "1", "StockCode": "2", "Description": "d", "Quantity": "1", '
            '"InvoiceDate": "2010-12-01", "UnitPrice": "1", "CustomerID": "1", '
            '"Country": "EIRE"}\n'
        )
    rows, reasons = read_all(wide)
    assert rows == 1 and reasons == [
        "JSON object with 2008 keys, more than 1024 (limits.max_json_keys)"
    ]
    with pytest.raises(FileRefused, match="record 1: JSON object with 5008 keys"):
        read_all(hostile.big_json_object(tmp_path / "object.json", keys=5000))


def test_workbook_size_and_rows_are_checked_before_it_is_opened(tmp_path: Path) -> None:
    bomb = hostile.xlsx_bomb(tmp_path / "bomb.xlsx", rows=20_000)
    assert bomb.stat().st_size < 200_000  # a ~100:1 compression bomb
    with pytest.raises(FileRefused, match=r"expands to \d+ MB, more than the 1 MB"):
        check_workbook(bomb, ReaderLimits(max_workbook_bytes=1 * MIB))
    with pytest.raises(FileRefused, match="sheet sheet1 has 20,001 rows, more than the 10,000"):
        check_workbook(bomb, ReaderLimits(max_workbook_rows=10_000))
    undeclared = hostile.xlsx_bomb(tmp_path / "undeclared.xlsx", rows=20_000, declare_rows=False)
    with pytest.raises(FileRefused, match="Sales has 20,000 rows, more than the 10,000"):
        read_all(undeclared, ReaderLimits(max_workbook_rows=10_000))
    assert read_all(undeclared)[0] == 20_000


def test_parquet_with_a_list_column_or_non_utf8_bytes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match=r"nested column\(s\) tags"):
        read_all(hostile.parquet_list_column(tmp_path / "list.parquet"))
    with pytest.raises(FileRefused, match="column Description holds bytes that are not UTF-8"):
        read_all(hostile.parquet_binary_column(tmp_path / "binary.parquet"))
