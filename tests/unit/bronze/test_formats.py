"""Deciding a file's date order and decimal separator from all its values (sources/formats.py)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.formats import (
    Declared,
    FileEvidence,
    FormatEvidence,
    FormatOptions,
    SourceRule,
    decide,
    decide_file,
    declared_for,
)

FILE = Path("shop.csv")


def evidence(
    dates: list[str],
    prices: list[str] | None = None,
    chunks: int = 1,
    quantities: list[str] | None = None,
) -> FormatEvidence:
    """Evidence over the values, fed in ``chunks`` pieces the way a reader streams a file."""
    prices = prices if prices is not None else ["2.55"] * len(dates)
    frame = pl.DataFrame(
        {
            "_row_number": list(range(2, len(dates) + 2)),
            "invoice_date": dates,
            "unit_price": prices,
            "quantity": quantities if quantities is not None else ["6"] * len(dates),
        }
    )
    found = FormatEvidence()
    size = -(-frame.height // chunks)
    for start in range(0, frame.height, size):
        found.add(frame.slice(start, size))
    return found


@pytest.mark.parametrize(
    ("dates", "order"),
    [
        (["12/1/2010 8:26", "12/13/2010 8:26"], "mdy"),
        (["1/12/2010 8:26", "13/12/2010 8:26"], "dmy"),
        (["01.12.2010 08:26", "13.12.2010 08:26"], "dmy"),
        (["01-12-10 08:26", "13-12-10 08:26"], "dmy"),
        (["2010-12-01 08:26:00", "2010/12/13"], "ymd"),
    ],
)
def test_one_value_that_reads_one_way_decides_the_file(dates: list[str], order: str) -> None:
    decided = decide(FILE, evidence(dates), Declared())
    assert (decided.date_order, decided.date_order_source) == (order, "inferred")


def test_the_deciding_value_is_found_however_late_in_the_file() -> None:
    dates = ["1/2/2011 9:00"] * 999 + ["1/31/2011 9:00"]
    decided = decide(FILE, evidence(dates, chunks=7), Declared())
    assert (decided.date_order, decided.date_order_source) == ("mdy", "inferred")


def test_all_ambiguous_is_assumed_and_says_how_to_declare() -> None:
    decided = decide(FILE, evidence(["1/12/2010 8:26"] * 5), Declared(), default_order="mdy")
    assert (decided.date_order, decided.date_order_source) == ("mdy", "assumed")
    assert decided.date_pattern == "MM/DD/YYYY HH:MM"
    [note] = decided.notes
    assert "shop.csv" in note and "--date-order dmy" in note
    declared = decide(FILE, evidence(["1/12/2010 8:26"] * 5), Declared(date_order="dmy"))
    assert (declared.date_order, declared.date_order_source, declared.notes) == (
        "dmy",
        "declared",
        (),
    )


def test_a_few_values_against_the_majority_are_line_errors_not_a_mixed_file() -> None:
    dates = ["12/13/2010 8:26"] * 200 + ["25/12/2010 10:00"] * 3
    assert decide(FILE, evidence(dates), Declared()).date_order == "mdy"


def test_a_file_that_mixes_both_orders_is_refused_with_counts_and_two_lines() -> None:
    dates = ["12/13/2010 8:26"] * 20 + ["13/12/2010 8:26"] * 15
    with pytest.raises(FileRefused) as refused:
        decide(FILE, evidence(dates, chunks=3), Declared())
    reason = refused.value.reason
    assert "month first only: 20 line(s) (line 2: '12/13/2010 8:26'; line 3:" in reason
    assert "day first only: 15 line(s) (line 22: '13/12/2010 8:26'; line 23:" in reason


def test_a_declaration_most_values_contradict_is_refused_within_a_share() -> None:
    dates = ["13/12/2010 8:26"] * 10 + ["1/12/2010 8:26"] * 90
    with pytest.raises(FileRefused, match="contradicted by 10 of 100 dated lines"):
        decide(FILE, evidence(dates), Declared(date_order="mdy", origin="--date-order mdy"))
    allowed = decide(FILE, evidence(dates), Declared(date_order="mdy"), max_share=0.1)
    assert (allowed.date_order, allowed.date_order_source) == ("mdy", "declared")


@pytest.mark.parametrize(
    ("prices", "decimal", "thousands"),
    [
        (["2,55", "3"], ",", None),
        (["1.234,50", "1.000"], ",", "."),
        (["12.345.678"], ",", "."),
        (["2.55", "1,234.50"], ".", ","),
        (["0.001"], ".", None),
    ],
)
def test_the_decimal_separator_is_inferred(
    prices: list[str], decimal: str, thousands: str | None
) -> None:
    decided = decide(FILE, evidence(["12/13/2010 8:26"] * len(prices), prices), Declared())
    assert (decided.decimal_separator, decided.decimal_separator_source) == (decimal, "inferred")
    assert decided.thousands_separator == thousands


def test_thousands_or_three_decimals_is_ambiguous_and_assumed_a_point() -> None:
    decided = decide(FILE, evidence(["12/13/2010 8:26"] * 2, ["1,234", "5"]), Declared())
    assert (decided.decimal_separator, decided.decimal_separator_source) == (".", "assumed")


def test_a_decimal_separator_that_changes_halfway_is_refused() -> None:
    prices = ["2.55"] * 12 + ["2,55"] * 12
    with pytest.raises(FileRefused, match="the decimal separator changes within the file") as no:
        decide(FILE, evidence(["12/13/2010 8:26"] * 24, prices), Declared())
    assert "a decimal comma in 12 line(s) (line 14: '2,55'; line 15: '2,55')" in no.value.reason


def test_retail_toml_rules_match_file_names_and_the_command_line_wins() -> None:
    rules = [
        SourceRule("shop_de_*.csv", Declared(date_order="dmy", decimal=",", origin="toml")),
        SourceRule("exports/*.csv", Declared(date_order="ymd", origin="toml 2")),
    ]
    assert declared_for(Path("/in/shop_de_1.csv"), Declared(), rules).date_order == "dmy"
    assert declared_for(Path("/data/exports/a.csv"), Declared(), rules).date_order == "ymd"
    assert declared_for(Path("/in/other.csv"), Declared(), rules) == Declared()
    given = Declared(date_order="mdy", origin="--date-order mdy")
    both = declared_for(Path("shop_de_2.csv"), given, rules)
    assert (both.date_order, both.decimal) == ("mdy", ",")


@pytest.mark.parametrize(
    ("dates", "pattern"),
    [
        (["13/12/2010 8:26"], "DD/MM/YYYY HH:MM"),
        (["13.12.2010 08.26"], "DD.MM.YYYY HH.MM"),
        (["13/12/2010 08h26", "1/12/2010 9h00"], "DD/MM/YYYY HHhMM"),
        (["2010/12/13 08.26"], "YYYY/MM/DD HH.MM"),
        (["12/13/10"], "MM/DD/YY"),
    ],
)
def test_the_time_separator_is_recorded_in_the_pattern(dates: list[str], pattern: str) -> None:
    assert decide(FILE, evidence(dates), Declared()).date_pattern == pattern


@pytest.mark.parametrize(
    ("quantities", "prices", "expected"),
    [
        (["6", "1.234"], ["2.55", "3.1"], (",", "inferred", ".")),  # thousands dot, price point
        (["6", "12,500"], ["2,55", "3"], (".", "inferred", ",")),  # comma thousands, price comma
        (["6", "3,0"], ["2.55", "3"], (",", "inferred", None)),
        (["6", "-12"], ["2,55", "3"], (",", "inferred", None)),  # nothing decides: the prices'
        (["6", "1.000"], ["2.55", "3"], (".", "inferred", None)),  # 1000 or 1.000: the prices'
    ],
)
def test_the_quantities_separator_is_decided_on_its_own_column(
    quantities: list[str], prices: list[str], expected: tuple[str, str, str | None]
) -> None:
    decided = decide(
        FILE, evidence(["12/13/2010 8:26"] * 2, prices, quantities=quantities), Declared()
    )
    assert (
        decided.quantity_decimal_separator,
        decided.quantity_decimal_separator_source,
        decided.quantity_thousands_separator,
    ) == expected


def test_quantities_that_change_separator_are_refused() -> None:
    quantities = ["1.234"] * 12 + ["1,234"] * 12
    with pytest.raises(FileRefused, match="the quantities' separators change within the file"):
        decide(FILE, evidence(["12/13/2010 8:26"] * 24, quantities=quantities), Declared())


def _book(sheets: dict[str, list[str]]) -> FileEvidence:
    found = FileEvidence()
    for sheet, dates in sheets.items():
        frame = pl.DataFrame({"_row_number": list(range(2, len(dates) + 2)), "invoice_date": dates})
        found.add(frame, sheet)
    return found


def test_each_sheet_is_decided_on_its_own_and_summarised_per_sheet() -> None:
    book = _book(
        {"US": ["12/13/2010 8:26"] * 12, "EU": ["13/12/2010 8:26"] * 12, "Odd": ["1/2/2011"]}
    )
    decided = decide_file(FILE, book, FormatOptions())
    assert (decided.date_order, decided.date_order_source) == ("per-sheet", "per-sheet")
    sheets = {name: (f.date_order, f.date_order_source) for name, f in decided.sheets}
    assert sheets == {
        "US": ("mdy", "inferred"),
        "EU": ("dmy", "inferred"),
        "Odd": ("mdy", "assumed"),
    }
    [note] = decided.notes
    assert "sheet 'Odd'" in note and 'pattern = "shop.csv#Odd"' in note
    columns = decided.manifest_columns()
    assert [s["sheet"] for s in columns["sheet_formats"]] == ["US", "EU", "Odd"]


def test_a_sheet_that_decides_nothing_follows_its_workbook() -> None:
    book = _book({"December": ["13/12/2010 8:26"], "Early": ["1/12/2010 8:26"]})
    decided = decide_file(FILE, book, FormatOptions())
    assert (decided.date_order, decided.date_order_source, decided.notes) == ("dmy", "inferred", ())
    assert [f.date_order for _, f in decided.sheets] == ["dmy", "dmy"]


def test_a_rule_naming_a_sheet_declares_that_sheet_only() -> None:
    rules = (
        SourceRule("shop.csv#Odd", Declared(date_order="dmy", origin="sheet rule")),
        SourceRule("shop.csv", Declared(decimal=",", origin="file rule")),
    )
    book = _book({"US": ["12/13/2010 8:26"] * 12, "Odd": ["1/2/2011"]})
    decided = decide_file(FILE, book, FormatOptions(rules=rules))
    sheets = {
        name: (f.date_order, f.date_order_source, f.decimal_separator) for name, f in decided.sheets
    }
    assert sheets == {"US": ("mdy", "inferred", ","), "Odd": ("dmy", "declared", ",")}
    assert declared_for(FILE, Declared(), list(rules)).date_order is None
