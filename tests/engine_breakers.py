"""Sales lines built to make DuckDB and Spark disagree, in two batches and a retraction.

:mod:`tests.adversarial` attacks text (escape letters, every Unicode space, extreme numbers);
this module attacks what the pipeline *derives* from values, where each engine has its own
semantics: the keys (hashes of natural keys), duplicate detection, the cancellation and
adjustment flags, decimal sums and averages, medians and robust z-scores behind the quality
rules, ranking ties in the marts, and SCD2 history across batches. What it covers, and why:

- Unicode that looks equal but is not (NFC against NFD, full-width and Arabic-Indic digits,
  Turkish dotted and dotless i, ``ß`` against ``SS``, ligatures, zero-width joiners, the Kelvin
  sign): no engine may normalise one and not the other (lone surrogates and invalid UTF-8 are
  refused or rejected by ingest, before any engine: decision 0017's parity addendum);
- invoice numbers and stock codes that differ only by case, leading zeros or inner spaces
  (``c581001`` is a cancellation only if the engine upper-cases before testing the prefix);
- customer ids as a spreadsheet leaves them (``17850.0``, ``17850.``, ``1.785E4``, ``017850``);
- duplicates that differ only in whitespace or letter case (one line after cleaning, or two);
- decimal sums and averages at the edges: ``0.1 + 0.2``, half-way roundings at the fourth
  decimal (``0.00015``), prices with four decimals summed over many lines, negative prices,
  ``-0``; medians of even counts, zero MADs;
- dates: 29 February, midnight, ``24:00``, ``23:59:60``, two-digit years (``99``, ``00``),
  1900, an Excel serial at the last microsecond of a day, dates that read both ways, clock
  changes in London, a time-zone offset;
- ties everywhere a mart ranks (same revenue for many products, same RFM values), and ties the
  dimensions break: one customer in two countries at one instant, one product with three
  descriptions at one instant.

Batch one is ``breakers.csv`` (plus the same lines as NDJSON, with other invoice numbers, a
Parquet file with typed columns, and a workbook whose sheets repeat a line at the same row);
batch two, ``breakers_later.csv``, moves customers to other countries (SCD2), repeats batch
one's lines with different spacing (duplicates across batches) and adds later dates. The tests
then retract the NDJSON file and run again.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.adversarial import COLUMNS, HEADER

Row = dict[str, str | None]


def _line(n: int, **values: str | None) -> Row:
    """A valid line in December 2011 (late enough to sit after every other sample)."""
    base: Row = {
        "invoice_no": f"{581000 + n // 3}",
        "stock_code": f"{30000 + n % 40}",
        "description": f"BREAKER ITEM {n % 40}",
        "quantity": "4",
        "invoice_date": f"12/{1 + n % 9}/2011 {9 + n % 8}:{n % 60:02d}",
        "unit_price": "1.25",
        "customer_id": f"{15000 + n % 25}",
        "country": ("United Kingdom", "France", "Germany", "Spain", "EIRE")[n % 5],
    }
    base.update(values)
    return base


NFD_E = "E\u0301"
UNICODE_LOOKALIKES = (
    # (stock_code, description): pairs that render alike but are different text
    ("30100É", "CRÈME JAR"),
    (f"30100{NFD_E}", "CRE\u0300ME JAR"),
    ("30101ı", "dotless ı mug"),
    ("30101i", "dotted i mug"),
    ("30101İ", "DOTTED İ MUG"),
    ("30102ß", "straße sign"),
    ("30102SS", "STRASSE SIGN"),
    ("30103ﬀ", "oﬀice cup"),
    ("30104\u200d", "joiner\u200dcup"),
    ("３０１０５", "full-width code"),
    ("٣٠١٠٦", "arabic-indic code"),
    ("30107k", "kelvin \u212a sign"),
    ("30107K", "KELVIN K SIGN"),
    ("30108ǆ", "digraph ǆ"),
)
NUMBERS = (
    # (quantity, unit_price)
    ("１２", "1.25"),
    ("12", "１.２５"),
    ("٣", "1.25"),
    ("4", "0.1"),
    ("4", "0.2"),
    ("4", "0.3"),
    ("1", "0.0001"),
    ("2", "0.0001"),
    ("3", "0.00015"),
    ("1", "0.00005"),
    ("1", "-0.00005"),
    ("1", "-0"),
    ("-0", "1.25"),
    ("00004", "0001.2500"),
    ("4.", "1.25"),
    ("4.000", "1.25"),
    ("1e3", "1.25"),
    ("4", "1e0"),
    ("4", "1,25"),
    ("4", "1.234.56"),
    ("4", "-1.25"),
    ("-4", "-1.25"),
    ("4", "12,34"),
    ("4", "1,234"),
    ("2147483648", "0.0001"),
    ("-2147483649", "0.0001"),
    ("999999999999999999", "99999999999999.9999"),
    ("4", "99999999999999.99995"),
    ("4", "0.33333333333"),
    ("7", "0.142857142857"),
)
CUSTOMERS = (
    "17850.0",
    "17850.",
    "17850.00",
    "017850",
    "1.785E4",
    "17850.5",
    "+17850",
    "-17850",
    "１７８５０",
    "17 850",
    "0",
    "0.0",
    "00000",
)
INVOICES = ("0581500", "581500", "c581501", "C581501", "C 581502", "a581503", "A581503", "ⅽ581504")
DATES = (
    "2/29/2012 0:00",
    "2/29/2010 0:00",
    "2/29/2011 0:00",
    "12/5/2011 0:00",
    "12/5/2011 24:00",
    "12/5/2011 23:59",
    "12/5/2011 23:59:59",
    "12/5/2011 23:59:60",
    "12/5/11 9:00",
    "12/5/99 9:00",
    "12/5/00 9:00",
    "1/1/1900 0:00",
    "1900-01-01 00:00:00",
    "2011-12-05T09:00:00.999999Z",
    "2011-12-05T09:00:00.9999999",
    "2011-12-05T09:00:00+01:00",
    "2011-12-05 9:00",
    "2011-3-27 01:30:00",
    "2011-10-30 01:30:00",
    "3/27/2011 1:30",
    "10/30/2011 1:30",
    "5/6/2011 12:00",
    "40882.5",
    "40882.999999999",
    "1.5e4",
    # Instants (decision 0017, addendum on the lake's time zone), converted into the lake's zone:
    # London's spring gap (01:30Z is 02:30 BST; 01:30 London never happened), the hour that
    # repeats in autumn (01:30 BST and 01:30 GMT), New Year's Eve in another year than UTC's,
    # half-hour and three-quarter offsets, every spelling of a designator, one out of range.
    "2011-03-27T01:30:00Z",
    "2011-10-30T00:30:00Z",
    "2011-10-30T01:30:00+00:00",
    "2011-12-31T23:30:00-01:00",
    "2012-01-01T05:00:00+05:30",
    "2011-12-05T09:00:00+05:45",
    "2011-12-05 09:00+0100",
    "2011-12-05T09:00:00-03",
    "2011-12-05T09:00:00z",
    "2011-12-05T09:00:00+19:00",
)
WHITESPACE_TWINS = (
    # same line after cleaning, or not: (invoice, stock, description, country)
    ("581600", "30200", "TWIN CUP", "France"),
    (" 581600", "30200 ", "TWIN CUP\u00a0", "\u3000France"),
    ("581600", "30200", "TWIN  CUP", "France"),
    ("581600", "30200", "twin cup", "FRANCE"),
    ("581600", "30200", "TWIN CUP", "france"),
    ("581600", "30200a", "TWIN CUP", "France"),
    ("581600", "30200A", "TWIN CUP", "France"),
)


def breaker_rows() -> list[Row]:
    """Batch one's lines, in a fixed order (no randomness)."""
    rows: list[Row] = []

    def add(**values: str | None) -> None:
        rows.append(_line(len(rows), **values))

    for code, description in UNICODE_LOOKALIKES:
        add(stock_code=code, description=description)
        add(stock_code=code, description=description, quantity="2", invoice_date="12/6/2011 9:00")
    for quantity, price in NUMBERS:
        add(quantity=quantity, unit_price=price, description=f"NUMBER {quantity} x {price}")
    for n, customer in enumerate(CUSTOMERS):
        add(customer_id=customer, invoice_no=f"{581700 + n}")
    for invoice in INVOICES:
        add(invoice_no=invoice, quantity="-2" if "c" in invoice.lower() else "2")
        add(invoice_no=invoice, quantity="3", stock_code="30300")
    for n, date in enumerate(DATES):
        add(invoice_date=date, invoice_no=f"{581800 + n}", description=f"DATE {date}")
    for invoice, code, description, country in WHITESPACE_TWINS:
        add(invoice_no=invoice, stock_code=code, description=description, country=country,
            invoice_date="12/7/2011 10:00", customer_id="15999")  # fmt: skip
    # 0.1 + 0.2 on one day and in one invoice; a revenue split over two orders (0.00015 each).
    for price in ("0.1", "0.2", "0.1", "0.2", "0.1"):
        add(invoice_no="581900", stock_code="30400", unit_price=price, quantity="1",
            invoice_date="12/8/2011 11:00", customer_id="15998", country="Norway")  # fmt: skip
    for invoice, quantity in (("581901", "1"), ("581902", "2")):
        add(invoice_no=invoice, stock_code="30401", unit_price="0.0001", quantity=quantity,
            invoice_date="12/9/2011 11:00", customer_id="15997", country="Iceland")  # fmt: skip
    # Ties: five products with the same revenue and units; customers with equal RFM values.
    for n in range(10):
        add(invoice_no=f"{582000 + n}", stock_code=f"{30500 + n % 5}", quantity="10",
            unit_price="1.00", invoice_date="12/2/2011 12:00",
            customer_id=f"{16000 + n % 5}", country="Japan")  # fmt: skip
    # Medians of even counts and zero deviations for the quality rules' statistics.
    for n, (quantity, price) in enumerate(
        (("1", "1.00"), ("3", "3.00"), ("1", "1.00"), ("3", "3.00"), ("2", "0.25"), ("2", "8.00"))
    ):
        add(stock_code="30600", quantity=quantity, unit_price=price, invoice_no=f"{582100 + n}")
    for n in range(7):
        add(stock_code="30601", quantity="5" if n < 6 else "500", invoice_no=f"{582200 + n}")
    # Ties the dimensions must break the same way: one customer in two countries at the same
    # instant (two invoices), one product with three descriptions at the same instant.
    for n, country in enumerate(("Sweden", "Finland")):
        add(invoice_no=f"{582300 + n}", customer_id="15996", country=country,
            invoice_date="12/8/2011 15:00")  # fmt: skip
    for description in ("TIED NAME", "tied name", "TIED NAME\u0301"):
        add(invoice_no="582310", stock_code="30650", description=description,
            invoice_date="12/8/2011 15:30")  # fmt: skip
    # A long description, an empty one, one that is only a zero-width joiner.
    add(description="Ω" * 3000, stock_code="30700")
    add(description="", stock_code="30701")
    add(description="\u200d", stock_code="30702")
    add(description="NULL", stock_code="30703", country="NULL")
    return rows


def later_rows() -> list[Row]:
    """Batch two: the same customers in other countries (SCD2), batch one's lines respelled
    with other spacing and case (duplicates across batches, or not), later dates."""
    rows: list[Row] = []
    for n in range(25):
        rows.append(
            _line(
                n + 5000,
                customer_id=f"{15000 + n}",
                country=("Netherlands", "Belgium", "EIRE", "United Kingdom", "France")[n % 5],
                invoice_date=f"12/{10 + n % 5}/2011 10:{n:02d}",
                invoice_no=f"{583000 + n}",
            )
        )
    first = breaker_rows()
    for row in first[:30]:
        respelled = dict(row)
        respelled["description"] = f" {row['description']} "
        respelled["country"] = f"{row['country']}\u00a0"
        rows.append(respelled)
    for row in first[30:40]:
        rows.append({**row, "invoice_no": f"{row['invoice_no']}".lower()})
    rows.append(_line(9000, customer_id="15999", country="Japan", invoice_no="583100"))
    rows.append(_line(9001, customer_id="17850.0", country="Japan", invoice_no="583101"))
    return rows


def _write_csv(path: Path, rows: list[Row]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    return path


def write_breakers(folder: Path) -> tuple[list[Path], list[Path], str]:
    """Write batch one (CSV, NDJSON, Parquet, XLSX) and batch two (CSV) under ``folder``; returns
    (batch one's files, batch two's files, the name of the file the tests retract)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = breaker_rows()
    first = _write_csv(folder / "breakers.csv", rows)
    ndjson = folder / "breakers.ndjson"
    with ndjson.open("w", encoding="utf-8") as handle:
        for row in rows:
            record = {h: row[c] for h, c in zip(HEADER, COLUMNS, strict=True)}
            record["InvoiceNo"] = f"{record['InvoiceNo']}".replace("58", "68", 1)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    # Typed columns, as a BI tool writes them: float prices (0.1 + 0.2 is 0.30000000000000004),
    # integer quantities, float customer ids, timestamps with a time zone.
    typed = pa.table(
        {
            "InvoiceNo": ["584000", "584000", "584001", "584001", "584002", "C584003"],
            "StockCode": ["30400", "30401", "30400", "30402", "30403", "30400"],
            "Description": ["TYPED A", "TYPED B", "TYPED A", None, "", "TYPED A"],
            "Quantity": pa.array([1, 2, -0, 3, 2**40, -1], pa.int64()),
            "InvoiceDate": pa.array(
                [1323075600_000_000, 1323075600_000_001, 1301189400_000_000]
                + [1319938200_000_000, 0, 1325375999_999_999],
                pa.timestamp("us", tz="Europe/London"),
            ),
            "UnitPrice": pa.array([0.1 + 0.2, 0.1, 1e-5, float("nan"), 1e15, -0.0]),
            "CustomerID": pa.array([17850.0, 17850.0, None, 1.5e4, 12345.5, 17850.0]),
            "Country": ["United Kingdom", "Japan", "Japan", None, "France", "United Kingdom"],
        }
    )
    parquet = folder / "breakers_typed.parquet"
    pq.write_table(typed, parquet)
    # Two sheets that share a batch and number their rows each from 1, with the same line at
    # the same row: one identity for two lines, unless the sheet is part of it.
    import xlsxwriter

    book = folder / "breakers_sheets.xlsx"
    workbook = xlsxwriter.Workbook(str(book))
    for name in ("Early", "Late", "Ünïcode"):
        sheet = workbook.add_worksheet(name)
        sheet.write_row(0, 0, HEADER)
        same = _line(0, invoice_no="585000", description="SAME IN EVERY SHEET")
        other = _line(1, invoice_no=f"58500{len(name)}", description=f"ONLY IN {name}")
        for number, row in enumerate((same, other, same), start=1):
            sheet.write_row(number, 0, [row[c] for c in COLUMNS])
    workbook.close()
    later = _write_csv(folder / "breakers_later.csv", later_rows())
    return [first, ndjson, parquet, book], [later], ndjson.name
