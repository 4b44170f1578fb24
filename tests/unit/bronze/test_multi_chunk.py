"""A file larger than one parsing chunk: chunks are parsed two at a time, yet every line keeps
its own line number and text, and the blank-line count and the rejects are exact."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline.bronze import ingest_file
from retail_lakehouse.sources.lines import CHUNK_BYTES

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def test_a_file_of_several_chunks_keeps_line_numbers_blanks_and_rejects(
    tmp_path: Path,
) -> None:
    line = "536365,85123A,WHITE HANGING HEART,{},12/1/2010 8:26,2.55,17850,United Kingdom"
    count = 3 * CHUNK_BYTES // len(line) + 1000  # a little over three chunks
    body = [line.format(i) for i in range(count)]
    blank_at = [10, count // 2, count - 5]  # indexes into body, spread over the chunks
    bad_at = [count // 3, 2 * count // 3]
    for i in blank_at:
        body[i] = ""
    for i in bad_at:
        body[i] = "536365,85123A,too few fields"
    path = tmp_path / "big.csv"
    path.write_text("\n".join([HEADER, *body]) + "\n", encoding="utf-8")
    lake = Lake(tmp_path / "lake")

    with recorded_run(lake, "test") as run:
        report = ingest_file(lake, path, run)

    assert report.rows_ingested == count - len(blank_at) - len(bad_at)
    assert report.rows_rejected == len(bad_at) and report.blank_lines == len(blank_at)
    lines = pl.from_arrow(lake.delta("bronze.sales_lines").to_pyarrow_table())  # type: ignore[union-attr]
    assert isinstance(lines, pl.DataFrame)
    skipped = {i + 2 for i in blank_at + bad_at}  # line numbers: the header is line 1
    expected = [n for n in range(2, count + 2) if n not in skipped]
    # (delta-rs may store one write's batches in any order: _row_number is the line's place)
    assert sorted(lines.get_column("_row_number").to_list()) == expected
    # each line's text came from its own line (the quantity is its index in the body)
    assert (
        lines.get_column("quantity").cast(pl.Int64) + 2 == lines.get_column("_row_number")
    ).all()
    rejects = lake.delta("bronze.rejects").to_pyarrow_table().to_pylist()  # type: ignore[union-attr]
    assert sorted(r["line_number"] for r in rejects) == [i + 2 for i in bad_at]
