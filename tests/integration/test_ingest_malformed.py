"""Broken input never produces a traceback: lines go to bronze.rejects or the file is refused.

Each case is a real file written to disk and ingested with the real ``retail`` command.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import RetailCli

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
GOOD = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def rejects(retail: RetailCli, lake: Path) -> list[dict[str, object]]:
    result = retail(
        "sql",
        "SELECT line_number, reason, raw_line FROM bronze.rejects ORDER BY line_number",
        "--format",
        "json",
        lake=lake,
    )
    assert result.code == 0, result.stderr
    rows: list[dict[str, object]] = result.json()
    return rows


def lines(retail: RetailCli, lake: Path) -> int:
    result = retail("sql", "SELECT count(*) AS n FROM bronze.sales_lines", "-f", "json", lake=lake)
    return int(result.json()[0]["n"])


def assert_clean_failure(result: object) -> None:
    text = getattr(result, "stderr", "") + getattr(result, "stdout", "")
    assert "Traceback" not in text


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty.csv", b"", "empty"),
        (
            "missing_column.csv",
            b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
            b"Country\n536365,85123A,X,6,12/1/2010 8:26,2.55,United Kingdom\n",
            "customer_id",
        ),
        ("binary.csv", bytes(range(256)) * 40, "binary"),
        # Excel's "Unicode Text" export: said to be binary content (sixteenth round's audit)
        ("unicode.txt", (HEADER + "\n" + GOOD + "\n").encode("utf-16"), "save it as utf-8"),
        ("unicode.csv", (HEADER + "\n" + GOOD + "\n").encode("utf-16-be"), "binary"),
        ("notes.txt.pdf", b"%PDF-1.4", "unsupported"),
    ],
)
def test_refused_files_exit_2_with_reason_and_write_nothing(
    retail: RetailCli, lake_dir: Path, tmp_path: Path, name: str, content: bytes, needle: str
) -> None:
    path = write(tmp_path / name, content)
    result = retail("ingest", path, lake=lake_dir)
    assert result.code == 2
    assert_clean_failure(result)
    assert name in result.stderr and needle in result.stderr.lower()
    assert not lake_dir.exists()  # not even the lake folder: every file of the command refused


def test_corrupt_parquet_data_after_good_rows_is_refused_and_leaves_no_file(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    """The footer reads fine and the first rows too; a later page is garbage. The whole file is
    refused with the row it failed from, and not even an uncommitted data file is left."""
    n = 200_000
    table = pa.table(
        {
            "InvoiceNo": [str(536365 + i // 7) for i in range(n)],
            "StockCode": ["85123A"] * n,
            "Description": [f"WHITE HANGING HEART T-LIGHT HOLDER {i}" for i in range(n)],
            "Quantity": [str(i % 50 + 1) for i in range(n)],
            "InvoiceDate": ["12/1/2010 8:26"] * n,
            "UnitPrice": ["2.55"] * n,
            "CustomerID": ["17850"] * n,
            "Country": ["United Kingdom"] * n,
        }
    )
    path = tmp_path / "late_damage.parquet"
    pq.write_table(table, path, row_group_size=n // 2)
    page = pq.ParquetFile(path).metadata.row_group(1).column(2).data_page_offset
    data = bytearray(path.read_bytes())
    data[page + 200 : page + 2000] = b"\xab" * 1800
    path.write_bytes(bytes(data))
    lake_dir.mkdir()  # a lake before the command (empty): the refusal keeps it

    result = retail("ingest", path, lake=lake_dir)
    assert result.code == 2, result.stdout + result.stderr
    assert_clean_failure(result)
    assert "late_damage.parquet" in result.stderr
    assert "unreadable Parquet data from row" in result.stderr
    assert lines(retail, lake_dir) == 0
    assert not list(lake_dir.glob("bronze/sales_lines/*.parquet"))


def test_header_only_file_is_ingested_with_no_lines(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "header_only.csv", (HEADER + "\n").encode())
    result = retail("ingest", path, lake=lake_dir)
    assert result.code == 0, result.stderr
    assert lines(retail, lake_dir) == 0
    again = retail("ingest", path, lake=lake_dir)
    assert "skipped" in again.stdout


def test_bad_lines_go_to_rejects_with_line_number_and_reason(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    body = "\n".join(
        [
            HEADER,
            GOOD,  # line 2
            "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39",  # 3: too few fields
            '536366,22633,"HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850,United Kingdom',
            GOOD + ",extra",  # 5: too many fields
            '536367,84879,"ASSORTED, COLOUR BIRD",32,12/1/2010 8:34,1.69,13047,United Kingdom',
            "",  # 7: blank, skipped
            GOOD.replace("536365", "536368"),  # 8
            GOOD.replace("WHITE", "WHI\x01TE"),  # 9: a control character
        ]
    )
    path = write(tmp_path / "ragged.csv", body.encode())
    result = retail("ingest", path, lake=lake_dir)
    assert result.code == 0, result.stderr
    assert lines(retail, lake_dir) == 3
    found = rejects(retail, lake_dir)
    assert [(r["line_number"], r["reason"]) for r in found] == [
        (3, "expected 8 fields, found 6"),
        (4, "broken quoting (unterminated or stray quote)"),
        (5, "expected 8 fields, found 9"),
        (9, "control characters in the line (binary data?)"),
    ]
    assert found[0]["raw_line"] == "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39"
    quoted = retail(
        "sql",
        "SELECT description, _row_number FROM bronze.sales_lines WHERE invoice_no = '536367'",
        "-f",
        "json",
        lake=lake_dir,
    ).json()
    assert quoted == [{"description": "ASSORTED, COLOUR BIRD", "_row_number": 6}]
    order = retail("sql", "SELECT _row_number FROM bronze.sales_lines", "-f", "json", lake=lake_dir)
    assert [r["_row_number"] for r in order.json()] == [2, 6, 8]  # the file's order


def test_crlf_and_latin1_are_read_correctly(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    crlf = write(
        tmp_path / "crlf.csv",
        (HEADER + "\r\n" + GOOD + "\r\n" + GOOD.replace("6,", "7,", 1) + "\r\n").encode(),
    )
    latin = write(
        tmp_path / "latin1.csv",
        (HEADER + "\n" + GOOD.replace("WHITE HANGING", "CAFÉ CRÈME") + "\n").encode("cp1252"),
    )
    result = retail("ingest", crlf, latin, lake=lake_dir)
    assert result.code == 0, result.stderr
    rows = retail(
        "sql",
        "SELECT description, country FROM bronze.sales_lines ORDER BY _batch_seq, _row_number",
        "-f",
        "json",
        lake=lake_dir,
    ).json()
    assert [r["country"] for r in rows] == ["United Kingdom"] * 3  # no stray \r
    assert rows[2]["description"].startswith("CAFÉ CRÈME")
    encodings = retail(
        "sql", "SELECT encoding FROM bronze.files ORDER BY _batch_seq", "-f", "json", lake=lake_dir
    ).json()
    assert [e["encoding"] for e in encodings] == ["utf-8", "cp1252"]


def test_undecodable_line_in_utf8_file_is_rejected(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    good_utf8 = GOOD.replace("WHITE HANGING", "CAFÉ").encode()
    junk = b"536399,\xff\xfe\xfa,JUNK,1,12/1/2010 9:00,1.00,17850,United Kingdom"
    path = write(tmp_path / "mixed.csv", b"\n".join([HEADER.encode(), good_utf8, good_utf8, junk]))
    result = retail("ingest", path, lake=lake_dir)
    assert result.code == 0, result.stderr
    assert lines(retail, lake_dir) == 2
    found = rejects(retail, lake_dir)
    assert len(found) == 1 and found[0]["line_number"] == 4
    assert "undecodable" in str(found[0]["reason"])


def test_semicolon_and_tab_delimiters_and_header_variants(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    semi = write(
        tmp_path / "semi.csv",
        (
            "\ufeffinvoice no;STOCKCODE;description;Quantity;Invoice Date;Price;"
            "customer_id;COUNTRY\n" + GOOD.replace(",", ";") + "\n"
        ).encode(),
    )
    tab = write(
        tmp_path / "tab.tsv", (HEADER.replace(",", "\t") + "\n" + GOOD.replace(",", "\t")).encode()
    )
    result = retail("ingest", semi, tab, lake=lake_dir)
    assert result.code == 0, result.stderr
    rows = retail(
        "sql",
        "SELECT invoice_no, unit_price, country FROM bronze.sales_lines",
        "-f",
        "json",
        lake=lake_dir,
    ).json()
    assert rows == [{"invoice_no": "536365", "unit_price": "2.55", "country": "United Kingdom"}] * 2


def test_a_folder_of_broken_files_never_tracebacks(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "landing"
    folder.mkdir()
    write(folder / "a_good.csv", (HEADER + "\n" + GOOD + "\n").encode())
    write(folder / "b_empty.csv", b"")
    write(folder / "c_ragged.csv", (HEADER + "\n" + GOOD + ",x\n").encode())
    write(folder / "d_junk.csv", b"\x00\x01\x02" * 500)
    write(folder / "e_broken.json", b'{"InvoiceNo": "1", ')
    result = retail("ingest", folder, lake=lake_dir)
    assert result.code == 2
    assert_clean_failure(result)
    assert "b_empty.csv" in result.stderr and "d_junk.csv" in result.stderr
    assert lines(retail, lake_dir) == 1  # the good file still landed
    assert len(rejects(retail, lake_dir)) == 1


def test_extra_columns_are_kept_and_recorded(
    retail: RetailCli, lake_dir: Path, tmp_path: Path
) -> None:
    first = write(tmp_path / "plain.csv", (HEADER + "\n" + GOOD + "\n").encode())
    drift = write(
        tmp_path / "drift.csv",
        (HEADER + ",Channel,Store Id\n" + GOOD.replace("536365", "536370") + ",web,42\n").encode(),
    )
    assert retail("ingest", first, lake=lake_dir).code == 0
    result = retail("ingest", drift, lake=lake_dir)
    assert result.code == 0, result.stderr
    assert "x_channel" in result.stdout
    rows = retail(
        "sql",
        "SELECT invoice_no, x_channel, x_store_id, _schema_version FROM bronze.sales_lines "
        "ORDER BY invoice_no",
        "-f",
        "json",
        lake=lake_dir,
    ).json()
    assert rows == [
        {"invoice_no": "536365", "x_channel": None, "x_store_id": None, "_schema_version": 1},
        {"invoice_no": "536370", "x_channel": "web", "x_store_id": "42", "_schema_version": 2},
    ]
    history = retail(
        "sql",
        "SELECT change, columns, schema_version FROM meta.schema_history ORDER BY schema_version",
        "-f",
        "json",
        lake=lake_dir,
    ).json()
    assert [h["change"] for h in history] == ["initial", "added_columns"]
    assert history[1]["columns"] == ["x_channel", "x_store_id"]
