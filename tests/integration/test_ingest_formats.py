"""Every supported format lands in bronze with the same canonical columns and line numbers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter

from tests.conftest import RetailCli

ROWS = [
    {
        "InvoiceNo": "536365",
        "StockCode": "85123A",
        "Description": "WHITE HANGING HEART",
        "Quantity": "6",
        "InvoiceDate": "12/1/2010 8:26",
        "UnitPrice": "2.55",
        "CustomerID": "17850",
        "Country": "United Kingdom",
    },
    {
        "InvoiceNo": "C536379",
        "StockCode": "D",
        "Description": "Discount",
        "Quantity": "-1",
        "InvoiceDate": "12/1/2010 9:41",
        "UnitPrice": "27.5",
        "CustomerID": "14527",
        "Country": "United Kingdom",
    },
]


def query(retail: RetailCli, lake: Path, sql: str) -> list[dict[str, object]]:
    result = retail("sql", sql, "-f", "json", lake=lake)
    assert result.code == 0, result.stderr
    rows: list[dict[str, object]] = result.json()
    return rows


def test_ndjson_with_a_bad_line(retail: RetailCli, lake_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "web.ndjson"
    lines = [json.dumps(ROWS[0]), "{not json", json.dumps(ROWS[1]), "[1, 2]"]
    path.write_text("\n".join(lines) + "\n")
    result = retail("ingest", path, lake=lake_dir)
    assert result.code == 0, result.stderr
    got = query(
        retail,
        lake_dir,
        "SELECT invoice_no, quantity, _row_number FROM bronze.sales_lines ORDER BY _row_number",
    )
    assert got == [
        {"invoice_no": "536365", "quantity": "6", "_row_number": 1},
        {"invoice_no": "C536379", "quantity": "-1", "_row_number": 3},
    ]
    bad = query(retail, lake_dir, "SELECT line_number, reason FROM bronze.rejects ORDER BY 1")
    assert bad == [
        {"line_number": 2, "reason": "invalid JSON"},
        {"line_number": 4, "reason": "not a JSON object"},
    ]


def test_json_array(retail: RetailCli, lake_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(ROWS))
    assert retail("ingest", path, lake=lake_dir).code == 0
    got = query(
        retail, lake_dir, "SELECT invoice_no, unit_price FROM bronze.sales_lines ORDER BY 1"
    )
    assert got == [
        {"invoice_no": "536365", "unit_price": "2.55"},
        {"invoice_no": "C536379", "unit_price": "27.5"},
    ]


def test_parquet(retail: RetailCli, lake_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    assert retail("ingest", path, lake=lake_dir).code == 0
    got = query(
        retail, lake_dir, "SELECT invoice_no, _row_number FROM bronze.sales_lines ORDER BY 2"
    )
    assert got == [
        {"invoice_no": "536365", "_row_number": 1},
        {"invoice_no": "C536379", "_row_number": 2},
    ]


def test_xlsx_every_sheet_with_real_dates(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "workbook.xlsx"
    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "m/d/yyyy h:mm"})
    import datetime as dt

    for sheet_name, row in (("Year 2009-2010", ROWS[0]), ("Year 2010-2011", ROWS[1])):
        sheet = book.add_worksheet(sheet_name)
        header = [
            "Invoice",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "Price",
            "Customer ID",
            "Country",
        ]
        sheet.write_row(0, 0, header)
        sheet.write_row(
            1, 0, [row["InvoiceNo"], row["StockCode"], row["Description"], int(row["Quantity"])]
        )
        sheet.write_datetime(1, 4, dt.datetime(2010, 12, 1, 8, 26), date_format)
        sheet.write_row(1, 5, [float(row["UnitPrice"]), int(row["CustomerID"]), row["Country"]])
    book.close()
    result = retail("ingest", path, lake=lake_dir)
    assert result.code == 0, result.stderr
    got = query(
        retail,
        lake_dir,
        "SELECT invoice_no, invoice_date, _row_number, _source_file "
        "FROM bronze.sales_lines ORDER BY invoice_no",
    )
    assert [g["invoice_no"] for g in got] == ["536365", "C536379"]
    assert {g["invoice_date"] for g in got} == {"2010-12-01 08:26:00"}
    assert all(g["_row_number"] == 2 for g in got)
    assert str(got[0]["_source_file"]).endswith("workbook.xlsx#Year 2009-2010")


def test_generated_files_of_every_format_ingest_completely(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    for fmt in ("csv", "json", "parquet"):
        out = tmp_path / f"sample.{fmt}"
        made = retail("generate", "--rows", "3000", "--format", fmt, "--seed", "7", "--out", out)
        assert made.code == 0, made.stderr
        assert retail("ingest", out, lake=lake_dir).code == 0
    counts = query(
        retail,
        lake_dir,
        "SELECT _source_file, count(*) AS n FROM bronze.sales_lines GROUP BY 1 ORDER BY 1",
    )
    assert [c["n"] for c in counts] == [3000, 3000, 3000]
    # the same lines whatever the container format
    frames = [
        pl.DataFrame(
            query(
                retail,
                lake_dir,
                "SELECT invoice_no, stock_code, quantity, unit_price "
                f"FROM bronze.sales_lines WHERE _source_file LIKE '%.{fmt}' "
                "ORDER BY _row_number",
            )
        )
        for fmt in ("csv", "json", "parquet")
    ]
    assert frames[0].equals(frames[1]) and frames[0].equals(frames[2])


def test_xlsx_keeps_text_in_mostly_numeric_columns(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    """A cancellation number (C536379) among numeric invoice numbers survives as text."""
    path = tmp_path / "mixed.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Sheet1")
    sheet.write_row(0, 0, list(ROWS[0].keys()))
    for row, invoice in enumerate([536365, 536366, 536367, "C536379"], start=1):
        sheet.write_row(
            row, 0, [invoice, "85123A", "HEART", 6, "12/1/2010 8:26", 2.55, 17850, "United Kingdom"]
        )
    book.close()
    assert retail("ingest", path, lake=lake_dir).code == 0
    got = query(
        retail,
        lake_dir,
        "SELECT invoice_no, quantity, customer_id FROM bronze.sales_lines ORDER BY _row_number",
    )
    assert [g["invoice_no"] for g in got] == ["536365", "536366", "536367", "C536379"]
    assert got[0]["quantity"] == "6" and got[0]["customer_id"] == "17850"


def test_a_json_array_named_like_a_pattern_is_read_as_itself(
    retail: RetailCli, tmp_path: Path
) -> None:
    """DuckDB's reader expands ``[1]``, ``?`` and ``*`` in the name it is given: ``sales[1].json``
    was read as ``sales1.json`` (another file's lines, silently), ``q?.json`` as every
    ``q<x>.json``. Same for a ``--cdc`` change log."""
    folder = tmp_path / "exports #1"
    folder.mkdir()
    for name, rows in [("sales[1].json", ROWS), ("q?.json", ROWS[:1]), ("s*.json", ROWS[1:])]:
        (folder / name).write_text(json.dumps(rows))
    for other in ("sales1.json", "qx.json", "sx.json", "sub/sales[1].json"):
        (folder / other).parent.mkdir(exist_ok=True)
        (folder / other).write_text(json.dumps(ROWS * 5))
    for index, (name, expected) in enumerate(
        [("sales[1].json", 2), ("q?.json", 1), ("s*.json", 1)]
    ):
        lake = tmp_path / f"lake-{index}"
        done = retail("ingest", folder / name, lake=lake)
        assert done.code == 0, done.stderr[-2000:]
        got = query(retail, lake, "SELECT count(*) AS n FROM bronze.sales_lines")
        assert got == [{"n": expected}], name
    log = folder / "changes[1].ndjson"
    log.write_text('{"op":"c","source":{"lsn":1},"after":{"line_id":"a"}}\n')
    (folder / "changes1.ndjson").write_text("not json\n")
    done = retail("ingest", "--cdc", log, lake=tmp_path / "lake-cdc")
    assert "not a JSON object" not in done.stderr, done.stderr[-2000:]


def test_parquet_timestamps_reach_silver_as_the_instants_the_file_meant(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    """A zoned timestamp is an instant: bronze keeps it as the file's zone wrote it, with its
    offset and fraction, and silver converts it into the lake's zone (UTC by default); the two
    02:30 of Berlin's autumn change stay two lines (without the offset they were one text, and
    silver removed the second as a duplicate). A naive timestamp keeps its fraction in bronze
    (silver keeps whole seconds); a date column is read (it refused the file). Decision 0017,
    addenda on typed timestamps and on the lake's time zone."""
    line = {k: v for k, v in ROWS[0].items() if k != "InvoiceDate"}
    berlin = tmp_path / "berlin.parquet"
    instants = [1325375999_999_999, 1319934600_000_000, 1319938200_000_000]  # UTC micros
    zoned = pa.array(instants, pa.timestamp("us", tz="Europe/Berlin"))
    pq.write_table(pa.Table.from_pylist([line] * 3).append_column("InvoiceDate", zoned), berlin)
    naive = tmp_path / "naive.parquet"
    wall = pa.array([dt.datetime(2011, 12, 31, 23, 59, 59, 999999)], pa.timestamp("us"))
    other = {**line, "InvoiceNo": "536366"}
    pq.write_table(pa.Table.from_pylist([other]).append_column("InvoiceDate", wall), naive)
    dated = tmp_path / "dated.parquet"
    day = pa.array([dt.date(2011, 3, 27)], pa.date32())
    third = {**line, "InvoiceNo": "536367"}
    pq.write_table(pa.Table.from_pylist([third]).append_column("InvoiceDate", day), dated)

    result = retail("ingest", berlin, naive, dated, lake=lake_dir)
    assert result.code == 0, result.stderr
    result = retail("run", lake=lake_dir)
    assert result.code == 0, result.stderr
    got = query(
        retail,
        lake_dir,
        "SELECT b.invoice_no, b.invoice_date, CAST(s.invoice_ts AS VARCHAR) AS ts "
        "FROM bronze.sales_lines b LEFT JOIN silver.sales_lines s "
        "ON s._batch_seq = b._batch_seq AND s._row_number = b._row_number "
        "ORDER BY b.invoice_no, s.invoice_ts",
    )
    assert got == [
        {
            "invoice_no": "536365",
            "invoice_date": "2011-10-30T02:30:00+02:00",
            "ts": "2011-10-30 00:30:00",
        },
        {
            "invoice_no": "536365",
            "invoice_date": "2011-10-30T02:30:00+01:00",
            "ts": "2011-10-30 01:30:00",
        },
        {
            "invoice_no": "536365",
            "invoice_date": "2012-01-01T00:59:59.999999+01:00",
            "ts": "2011-12-31 23:59:59",
        },
        {
            "invoice_no": "536366",
            "invoice_date": "2011-12-31 23:59:59.999999",
            "ts": "2011-12-31 23:59:59",
        },
        {"invoice_no": "536367", "invoice_date": "2011-03-27", "ts": "2011-03-27 00:00:00"},
    ]
