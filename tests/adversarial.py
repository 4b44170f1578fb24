"""Hostile sales lines for engine-parity tests: text that engines are tempted to read differently.

Reusable by any test that compares engines (DuckDB and Spark today): :func:`write_adversarial`
writes the same lines as a CSV (every character a CSV field can carry) and as NDJSON (JSON
escapes carry line breaks and carriage returns exactly), in the UCI header layout, ready for
``retail ingest``. What it covers, and why:

- values that begin or end with letters that are also escape letters (``v f n r t b a``, and
  ``0 e u x z``): an engine that reads ``\\v`` or ``\\f`` in SQL text as a letter trims them
  (Spark did: ``vintage shelf`` became ``intage shel``, ``64018f`` became ``64018``);
- every whitespace code point of :mod:`retail_lakehouse.pipeline.text`, around every
  column, alone and mixed, and whitespace-only values (which become NULL); characters that look
  like whitespace but are not in the set (soft hyphen, word joiner, information separators) and
  must be kept by both engines;
- unicode text: accents, combining marks, ligatures, German sharp s, Turkish dotted I, final
  sigma, emoji, CJK, right-to-left text;
- empty values in each column;
- huge and tiny numbers: int64 limits and beyond, prices with more decimals than the contract
  keeps, exponents, signed zeros, thousands separators, Excel serial dates at their limits;
- words engines read as numbers or as NULL: ``NaN``, ``inf``, ``-Infinity``, ``NULL``, ``None``,
  underscores and hex in numbers, forty-digit and forty-decimal prices, a bare ``.5`` and ``5.``;
- local times that do not exist or happen twice where clocks change (Europe and the US, 2010),
  which an engine reading them in a zone with summer time would move or merge;
- JSON ``null`` against the empty string in each column (the NDJSON carries ``null`` where the
  CSV has an empty field).

Most lines are otherwise valid (a real date, price, quantity and customer), so they travel
through silver into every gold table and mart; the rest land in quarantine, so both silver
outputs are exercised.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from retail_lakehouse.pipeline.text import WHITESPACE_CODE_POINTS

HEADER = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
COLUMNS = (
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
    "country",
)
ESCAPE_LETTERS = "vfnrtba0euxz"
NOT_WHITESPACE = ("\u00ad", "\u2060", "\u180e", "\x1c", "\x1d", "\x1e", "\x1f", "\u200c", "\u200d")
"""Look-alikes that are not in the whitespace set: both engines must keep them."""
LINE_BREAKS = {0x0A, 0x0D}
"""Code points a CSV line cannot carry unquoted-safe through a line reader: NDJSON only."""

UNICODE_TEXT = (
    "Crème Brûlée Dish",
    "STRAßE SIGN",
    "ﬁne ﬂoral cup",
    "🎄 CHRISTMAS TREE 🎄",
    "茶杯 SET",
    "كوب شاي",
    "ΣΟΦΊΑ ΤΕΛΟΣ",
    "İSTANBUL MUG",
    "e\u0301cole bag",
    "ǅungla tin",
)
UNICODE_CODES = ("85123ß", "ǅ100", "İ200", "ﬁ300", "Σ400", "é500")
UNICODE_COUNTRIES = ("Österreich", "İTALY", "ΕΛΛΆΔΑ", "日本")
QUANTITIES = (
    "99999999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "1e3",
    "0.000001",
    "1,000,000",
    "+0",
    "-0",
    "00000000000000000006",
    "1 000",
    "3.000000000000",
)
PRICES = (
    "0.0001",
    "0.00001",
    "0.00005",
    "-0.00005",
    "99999999999999.9999",
    "999999999999.99995",
    "1e-10",
    "1E+300",
    "-0",
    "1.23456789012",
    "123456789012.5",
    "12,345,678.90",
    "£ 1\u00a0234.50",
    "€\u20090.85",
)
DATES = (
    "60",
    "2958466",
    "40513.999999",
    "2010-12-01T08:26:00.123456Z",
    "12/31/1999 23:59",
    "2/29/2012 0:00",
    "2/29/2011 0:00",
)
NUMBER_WORDS = ("NaN", "nan", "inf", "-Infinity", "Infinity", "NULL", "None", "1_000", "0x1A")
"""Read as a number (or NULL) by some engine's cast, as text by none of ours: quarantined alike."""
ODD_PRICES = (".5", "5.", "+2.55", "2.55e0", "9" * 40, "0." + "0" * 39 + "1", "-.0")
DST_TIMES = (
    "3/28/2010 1:30",  # Europe/London: 01:00 -> 02:00, 01:30 does not exist
    "10/31/2010 1:30",  # Europe/London: 01:30 happens twice
    "3/14/2010 2:30",  # America/New_York: 02:00 -> 03:00
    "11/7/2010 1:30",  # America/New_York: 01:30 happens twice
    "2010-03-28T01:59:59.999999",
    "2010-10-31 01:00:00",
)
EXTREME_DATES = ("61", "2958465.99999")
"""Excel's first and last accepted serials (1900-03-01, 9999-12-31): valid, but they stretch the
calendar and the cohort mart over eight thousand years (2.96 M ``dim_date`` rows), so they are
only included when asked for."""


def _line(n: int, **values: str | None) -> dict[str, str | None]:
    """A valid line (invoice ``A0000n`` style numbers avoided: ``A`` means adjustment)."""
    base: dict[str, str | None] = {
        "invoice_no": f"{580000 + n}",
        "stock_code": f"{70000 + n}",
        "description": f"PLAIN ITEM {n}",
        "quantity": "6",
        "invoice_date": f"12/{1 + n % 28}/2010 {8 + n % 10}:{n % 60:02d}",
        "unit_price": "2.55",
        "customer_id": f"{17000 + n % 50}",
        "country": ("United Kingdom", "France", "EIRE", "Germany")[n % 4],
    }
    base.update(values)
    return base


def adversarial_rows(*, extreme_dates: bool = False) -> list[dict[str, str | None]]:
    """Every hostile line, in a fixed order (deterministic: no randomness at all). None: JSON
    null in the NDJSON copy, an empty field in the CSV."""
    rows: list[dict[str, str | None]] = []

    def add(**values: str | None) -> None:
        rows.append(_line(len(rows), **values))

    # Escape letters at both ends of every text column.
    for letter in ESCAPE_LETTERS:
        add(
            stock_code=f"{letter}2201{letter}",
            description=f"{letter}intage shel{letter}",
            country=f"{letter}land{letter}",
        )
        add(stock_code=f"22{letter}", description=f"{letter.upper()}ELVET CHAIR {letter}")
    add(description="vintage shelf", stock_code="64018f")
    add(description="fabric navy tab", stock_code="v64018")

    # Every whitespace code point around every column, then whitespace-only values.
    for cp in WHITESPACE_CODE_POINTS:
        ws = chr(cp)
        add(
            invoice_no=f"{ws}{590000 + cp}{ws}",
            stock_code=f"{ws}{ws}W{cp:X}{ws}",
            description=f"{ws}vintage {cp:X} shelf{ws}",
            quantity=f"{ws}4{ws}",
            invoice_date=f"{ws}12/2/2010 9:{cp % 60:02d}{ws}",
            unit_price=f"{ws}1.25{ws}",
            customer_id=f"{ws}13047.0{ws}",
            country=f"{ws}France{ws}",
        )
        add(description=ws * 3, stock_code=f"BLANK{cp:X}", customer_id=ws, country=ws + ws)
    mixed = " \u00a0\t\u3000\x0b\x0c\u2009\ufeff"
    add(description=f"{mixed}fabric scarf{mixed[::-1]}", stock_code=f"{mixed}b64018a{mixed}")
    add(quantity=mixed, unit_price=mixed, invoice_date=mixed)

    # Look-alikes that are not whitespace: kept as they are.
    for char in NOT_WHITESPACE:
        add(description=f"{char}KEPT {ord(char):X}{char}", stock_code=f"K{ord(char):X}{char}")

    # Unicode text, codes and countries.
    for text in UNICODE_TEXT:
        add(description=text)
    for code in UNICODE_CODES:
        add(stock_code=code, description=f"unicode code {code}")
    for country in UNICODE_COUNTRIES:
        add(country=country)
    add(description="x" * 5000, stock_code="LONG1")

    # Empty values, one column at a time.
    for column in COLUMNS:
        add(**{column: ""})

    # Huge and tiny numbers, odd dates.
    for quantity in QUANTITIES:
        add(quantity=quantity)
    for price in PRICES:
        add(unit_price=price)
    for date in DATES + (EXTREME_DATES if extreme_dates else ()):
        add(invoice_date=date)

    # Words read as numbers or NULL, odd decimal spellings, clock changes, JSON null.
    for word in NUMBER_WORDS:
        add(quantity=word)
        add(unit_price=word)
        add(customer_id=word, description=f"customer {word}")
        add(description=word, stock_code=f"WORD{len(rows)}", country=word)
    for price in ODD_PRICES:
        add(unit_price=price)
    for time in DST_TIMES:
        add(invoice_date=time, description=f"clock change {time}")
    for column in COLUMNS:
        if column != "invoice_no":  # the NDJSON copy renumbers its invoices
            add(**{column: None})
    return rows


def european_rows() -> list[dict[str, str]]:
    """A European export (day first, dotted dates, decimal commas, thousands dots) with lines
    that contradict it: a month-first date, a decimal-point price, odd spacing and signs."""
    rows: list[dict[str, str]] = []

    def add(**values: str) -> None:
        n = len(rows)
        european = {
            "invoice_no": f"{570000 + n}",
            "invoice_date": f"{1 + n % 28:02d}.12.2010 {8 + n % 10:02d}:{n % 60:02d}",
            "unit_price": "2,55",
        }
        rows.append(_line(n + 700, **{**european, **values}))

    for n in range(40):
        add(
            unit_price=("2,55", "1.234,5", "-0,85", "12.345.678,9", "0,001", "3")[n % 6],
            quantity=("6", "-12", "1.000", "+4")[n % 4],
        )
    add(invoice_date="12.25.2010 09:00")  # month first in a day-first file: quarantined
    add(invoice_date="13/12/2010 9:00")  # another separator, same order: read
    add(invoice_date="2010-12-14 10:00:00")  # ISO needs no order
    add(invoice_date="31.02.2010 10:00")  # no such day in either order
    add(unit_price="2.55")  # a decimal point in a decimal-comma file: quarantined
    add(unit_price="€\u20091.234,50")
    add(invoice_date="01.12.10 08:26")  # two-digit year
    add(invoice_date="02.12.2010 08.26")  # dotted time
    add(invoice_date="03.12.2010 08.26.30")
    add(invoice_date="04.12.2010 08h26")
    add(quantity="1.234")  # a thousands dot in a quantity
    return rows


def sheet_rows() -> dict[str, list[dict[str, str]]]:
    """A workbook whose sheets are written differently (text cells, as some tills export them):
    month first with decimal points, and day first with dotted times and decimal commas, each
    with a line against its own sheet's order (quarantined, never swapped)."""
    sheets: dict[str, list[dict[str, str]]] = {"US": [], "EU": []}
    for n in range(24):
        day = 1 + n % 28
        sheets["US"].append(
            _line(
                n + 900, invoice_date=f"12/{day}/2010 {8 + n % 10}:{n % 60:02d}", unit_price="3.39"
            )
        )
        sheets["EU"].append(
            _line(
                n + 950,
                invoice_date=f"{day:02d}.12.2010 {8 + n % 10:02d}.{n % 60:02d}",
                unit_price=("3,39", "1.234,5")[n % 2],
                quantity=("6", "1.200")[n % 2],
            )
        )
    sheets["US"].append(_line(990, invoice_date="25/12/2010 9:00"))  # against the sheet
    sheets["EU"].append(_line(991, invoice_date="12.25.2010 09.00"))
    return sheets


def write_adversarial(folder: Path, *, extreme_dates: bool = False) -> list[Path]:
    """Write the lines as ``adversarial.csv`` and ``adversarial.ndjson``, and the European lines
    (:func:`european_rows`) as ``adversarial_european.csv``, and a workbook whose sheets differ
    (:func:`sheet_rows`) as ``adversarial_sheets.xlsx``; returns the four paths.

    The CSV holds the lines a CSV line can carry (bronze rejects lines with control characters
    there, so those are bronze rejects on the CSV side); the NDJSON holds all of them."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = adversarial_rows(extreme_dates=extreme_dates)
    csv_path = folder / "adversarial.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for row in rows:
            values = ["" if row[c] is None else row[c] for c in COLUMNS]
            if not any(chr(cp) in value for value in values for cp in LINE_BREAKS):
                writer.writerow(values)
    json_path = folder / "adversarial.ndjson"
    with json_path.open("w", encoding="utf-8") as handle:
        for row in rows:
            record = {h: row[c] for h, c in zip(HEADER, COLUMNS, strict=True)}
            # Distinct invoices, so the NDJSON copy is not a duplicate of the CSV lines.
            record["InvoiceNo"] = str(record["InvoiceNo"]).replace("5", "6", 1)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    european = folder / "adversarial_european.csv"
    with european.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(HEADER)
        for row in european_rows():
            writer.writerow([row[c] for c in COLUMNS])
    import xlsxwriter

    sheets = folder / "adversarial_sheets.xlsx"
    book = xlsxwriter.Workbook(str(sheets))
    for name, lines in sheet_rows().items():
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, HEADER)
        for number, row in enumerate(lines, start=1):
            sheet.write_row(number, 0, [row[c] for c in COLUMNS])
    book.close()
    return [csv_path, json_path, european, sheets]
