"""Parsing and standardisation of raw bronze text, one column at a time, on DuckDB."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pytest

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS
from retail_lakehouse.pipeline.silver.standardise import standardise
from tests.unit.silver.support import Row, raw

_names = itertools.count()


def bronze(engine: Engine, rows: list[Row]) -> ir.Table:
    n = len(rows)
    table = pa.table(
        {
            **{c: pa.array([r[c] for r in rows], pa.string()) for c in RAW_COLUMNS},
            "_batch_id": ["b"] * n,
            "_batch_seq": pa.array([1] * n, pa.int64()),
            "_row_number": pa.array(range(2, n + 2), pa.int64()),
            "_record_hash": ["h"] * n,
            "_source_file": ["f.csv"] * n,
        }
    )
    return engine.arrow_table(table, f"bronze_{next(_names)}")


def run(engine: Engine, rows: list[Row]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = engine.to_arrow(
        standardise(engine, bronze(engine, rows)).order_by("_row_number")
    ).to_pylist()
    return out


def one(engine: Engine, **fields: str | None) -> dict[str, Any]:
    return run(engine, [raw(**fields)])[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12/1/2010 8:26", datetime(2010, 12, 1, 8, 26)),
        ("12/1/10 8:26", datetime(2010, 12, 1, 8, 26)),
        ("12/1/2010 08:26", datetime(2010, 12, 1, 8, 26)),
        ("12/01/2010 08:26:30", datetime(2010, 12, 1, 8, 26, 30)),
        ("12/9/11 12:50", datetime(2011, 12, 9, 12, 50)),
        ("2010-12-01 08:26:00", datetime(2010, 12, 1, 8, 26)),
        ("2010-12-01T08:26:00", datetime(2010, 12, 1, 8, 26)),
        ("2010-12-01T08:26:00.000Z", datetime(2010, 12, 1, 8, 26)),
        # instants, into the lake's zone (UTC here): decision 0017, the lake's time zone
        ("2010-12-01T08:26:00+01:00", datetime(2010, 12, 1, 7, 26)),
        ("2010-12-01T08:26:00.5-05:30", datetime(2010, 12, 1, 13, 56)),
        ("2010-12-01 8:26+0100", datetime(2010, 12, 1, 7, 26)),
        ("2010-12-01T08:26:00-03", datetime(2010, 12, 1, 11, 26)),
        ("2010-12-01T08:26:00z", datetime(2010, 12, 1, 8, 26)),
        ("2010-12-31T23:30:00-01:00", datetime(2011, 1, 1, 0, 30)),
        ("2010-12-01T08:26:00+19:00", None),  # no zone is 19 hours off
        ("2010-12-01+01:00", None),  # an offset needs a time
        ("2010-12-01T08:26:00 CET", None),  # an abbreviation is not an offset
        ("2010-12-01 08:26", datetime(2010, 12, 1, 8, 26)),
        ("2010-12-01", datetime(2010, 12, 1)),
        ("40513.35138888889", datetime(2010, 12, 1, 8, 26)),
        ("40513", datetime(2010, 12, 1)),
        ("  12/1/2010 8:26 ", datetime(2010, 12, 1, 8, 26)),
        ("13/1/2010 8:26", None),
        ("12/1/2010 25:00", None),
        ("yesterday", None),
        ("", None),
        (None, None),
        ("12", None),  # an Excel serial before 1900-03-01 is ambiguous
        ("12/1/2010 8.26", datetime(2010, 12, 1, 8, 26)),  # time separators: . and h
        ("12.01.2010 08.26", datetime(2010, 12, 1, 8, 26)),
        ("12.01.2010 08.26.30", datetime(2010, 12, 1, 8, 26, 30)),
        ("12/1/2010 8h26", datetime(2010, 12, 1, 8, 26)),
        ("2010/12/01 08.26", datetime(2010, 12, 1, 8, 26)),
        ("12/1/2010 8.2", None),
    ],
)
def test_invoice_dates_in_every_layout(engine: Engine, text: str | None, expected: Any) -> None:
    assert one(engine, invoice_date=text)["invoice_ts"] == expected


def test_instants_become_the_lake_zones_wall_clock_and_wall_clocks_stay(engine: Engine) -> None:
    """``time_zone = "Europe/Berlin"``: the two instants of the repeated 02:30 both show 02:30,
    the spring gap's 01:30 UTC is 03:30, a New Year's Eve instant in UTC is 2012 in Berlin;
    text without a zone (even in the gap, 02:30 on 27 March) is the shop's clock as written."""
    texts = [
        "2011-10-30T00:30:00Z",
        "2011-10-30T02:30:00+01:00",
        "2011-03-27T01:30:00Z",
        "2011-12-31T23:30:00Z",
        "2011-12-31T23:30:00.999+05:30",
        "3/27/2011 2:30",
        "2011-03-27 02:30:00",
    ]
    rows = bronze(engine, [raw(invoice_date=text) for text in texts])
    lines = standardise(engine, rows, time_zone="Europe/Berlin").order_by("_row_number")
    assert engine.to_arrow(lines.select("invoice_ts")).column(0).to_pylist() == [
        datetime(2011, 10, 30, 2, 30),
        datetime(2011, 10, 30, 2, 30),
        datetime(2011, 3, 27, 3, 30),
        datetime(2012, 1, 1, 0, 30),
        datetime(2011, 12, 31, 19, 0),
        datetime(2011, 3, 27, 2, 30),
        datetime(2011, 3, 27, 2, 30),
    ]


def test_invoice_ts_is_wall_clock_time_even_from_excel_serials(engine: Engine) -> None:
    """A zoned column would make every later use of it convert each line through the time-zone
    library (the line key, the Parquet cast): DuckDB's own ``to_timestamp`` returns one."""
    rows = [raw(invoice_date="40513.35138888889"), raw(invoice_date="12/1/2010 8:26")]
    lines = standardise(engine, bronze(engine, rows))
    name = f"standardised_{next(_names)}"
    engine.view(lines, name)
    typed = engine.backend.con.execute(f"SELECT typeof(invoice_ts), invoice_ts FROM {name}")
    assert typed.fetchall() == [("TIMESTAMP", datetime(2010, 12, 1, 8, 26))] * 2


def test_the_raw_text_stays_next_to_the_parsed_value(engine: Engine) -> None:
    line = one(engine, invoice_date="garbage", quantity="3.5", unit_price="2,55")
    assert (line["invoice_ts"], line["quantity"], line["unit_price"]) == (None, None, None)
    assert (line["raw_invoice_date"], line["raw_quantity"], line["raw_unit_price"]) == (
        "garbage",
        "3.5",
        "2,55",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("-3", -3),
        (" 3 ", 3),
        ("3.0", 3),
        ("+3", 3),
        ("1,000", 1000),
        ("-12", -12),
        ("3.5", None),
        ("three", None),
        ("1,00", None),
        ("", None),
        (None, None),
        ("99999999999999999999", None),
    ],
)
def test_quantity_is_a_whole_number(engine: Engine, text: str | None, expected: Any) -> None:
    assert one(engine, quantity=text)["quantity"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.55", Decimal("2.5500")),
        ("0", Decimal("0.0000")),
        ("-11062.06", Decimal("-11062.0600")),
        ("£2.55", Decimal("2.5500")),
        ("$ 2.55", Decimal("2.5500")),
        ("€3", Decimal("3.0000")),
        ("1,234.50", Decimal("1234.5000")),
        ("£1,234.50", Decimal("1234.5000")),
        (" 2.55 ", Decimal("2.5500")),
        (".5", Decimal("0.5000")),
        ("2.55555", Decimal("2.5556")),
        ("2,55", None),
        ("two", None),
        ("", None),
        (None, None),
    ],
)
def test_price_strips_symbols_and_separators(
    engine: Engine, text: str | None, expected: Any
) -> None:
    assert one(engine, unit_price=text)["unit_price"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("17850", "17850"), ("17850.0", "17850"), (" 17850 ", "17850"), ("", None), (None, None)],
)
def test_customer_ids(engine: Engine, text: str | None, expected: str | None) -> None:
    line = one(engine, customer_id=text)
    assert line["customer_id"] == expected
    assert line["is_guest"] is (expected is None)


def test_codes_are_trimmed_and_upper_cased_descriptions_trimmed(engine: Engine) -> None:
    line = one(engine, invoice_no=" c536379 ", stock_code=" 85123a ", description=" LANTERN  ")
    assert (line["invoice_no"], line["stock_code"], line["description"]) == (
        "C536379",
        "85123A",
        "LANTERN",
    )
    assert one(engine, description="   ")["description"] is None
    assert one(engine, description="\tLANTERN\x0b\r\n")["description"] == "LANTERN"
    assert one(engine, quantity="\t6\n")["quantity"] == 6


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("United Kingdom", "United Kingdom", "GB"),
        ("EIRE", "Ireland", "IE"),
        ("RSA", "South Africa", "ZA"),
        ("USA", "United States", "US"),
        (" united kingdom ", "United Kingdom", "GB"),
        ("Channel Islands", "Channel Islands", "XC"),
        ("European Community", "European Community", "EU"),
        ("Unspecified", "Unspecified", "XX"),
        ("Atlantis", "Atlantis", None),
        ("", None, None),
    ],
)
def test_countries_from_the_reference(
    engine: Engine, text: str, name: str | None, code: str | None
) -> None:
    line = one(engine, country=text)
    assert (line["country"], line["country_code"]) == (name, code)


def test_flags_and_amount(engine: Engine) -> None:
    rows = [
        raw(),
        raw(invoice_no="C536379", stock_code="D", description="Discount", quantity="-1"),
        raw(
            invoice_no="A563185",
            stock_code="B",
            description="Adjust bad debt",
            quantity="1",
            unit_price="-11062.06",
            customer_id="",
        ),
        raw(stock_code="POST", description="POSTAGE", quantity="3", unit_price="18"),
        raw(quantity="-10", unit_price="0", customer_id=None, description=None),
    ]
    sale, cancel, adjust, post, damage = run(engine, rows)
    assert sale["line_amount"] == Decimal("15.3000")
    assert not any(
        sale[f]
        for f in ("is_cancellation", "is_return", "is_adjustment", "is_non_product", "is_guest")
    )
    assert cancel["is_cancellation"] and cancel["is_return"] and cancel["is_non_product"]
    assert adjust["is_adjustment"] and adjust["is_guest"] and adjust["is_non_product"]
    assert adjust["line_amount"] == Decimal("-11062.0600")
    assert post["is_non_product"] and post["line_amount"] == Decimal("54.0000")
    assert damage["is_return"] and not damage["is_cancellation"] and damage["is_guest"]


def test_unparseable_values_give_nulls_not_errors(engine: Engine) -> None:
    line = one(engine, quantity="x", unit_price="y", invoice_date="z", invoice_no="")
    assert line["line_amount"] is None
    assert line["invoice_no"] is None
    assert line["is_return"] is False and line["is_cancellation"] is False


def test_each_sheet_of_a_workbook_is_read_with_its_own_formats(engine: Engine) -> None:
    """A workbook whose sheets differ: the day-first sheet's dates and the decimal-comma
    sheet's numbers are read their way, the other sheet's the usual way; a file whose
    quantities alone have a thousands dot gets the swap on quantities only."""
    from retail_lakehouse.pipeline.silver.file_formats import PassFormats

    files = pa.Table.from_pylist(
        [
            {
                "_batch_seq": 1,
                "_source_file": "book.xlsx",
                "date_order": "per-sheet",
                "decimal_separator": "per-sheet",
                "quantity_decimal_separator": "per-sheet",
                "sheet_formats": [
                    {"sheet": "US", "date_order": "mdy", "decimal_separator": ".",
                     "quantity_decimal_separator": "."},
                    {"sheet": "EU", "date_order": "dmy", "decimal_separator": ",",
                     "quantity_decimal_separator": ","},
                ],
            },
            {
                "_batch_seq": 2,
                "_source_file": "q.csv",
                "date_order": "mdy",
                "decimal_separator": ".",
                "quantity_decimal_separator": ",",
                "sheet_formats": None,
            },
        ]
    )  # fmt: skip
    formats = PassFormats.from_manifest(files, [1, 2])
    rows = [
        raw(invoice_date="12/1/2010 8:26", unit_price="2.55", quantity="1,234"),
        raw(invoice_date="1/12/2010 8:26", unit_price="2,55", quantity="1.234"),
        raw(invoice_date="12/1/2010 8:26", unit_price="2.55", quantity="1.234"),
    ]
    table = pa.table(
        {
            **{c: pa.array([r[c] for r in rows], pa.string()) for c in RAW_COLUMNS},
            "_batch_id": ["b1", "b1", "b2"],
            "_batch_seq": pa.array([1, 1, 2], pa.int64()),
            "_row_number": pa.array([2, 3, 2], pa.int64()),
            "_record_hash": ["h"] * 3,
            "_source_file": ["book.xlsx#US", "book.xlsx#EU", "q.csv"],
        }
    )
    lines = engine.arrow_table(table, f"bronze_{next(_names)}")
    out = engine.to_arrow(
        standardise(engine, lines, formats).order_by(["_batch_seq", "_row_number"])
    ).to_pylist()
    december = datetime(2010, 12, 1, 8, 26)
    assert [(r["invoice_ts"], r["unit_price"], r["quantity"]) for r in out] == [
        (december, Decimal("2.55"), 1234),
        (december, Decimal("2.55"), 1234),
        (december, Decimal("2.55"), 1234),
    ]
