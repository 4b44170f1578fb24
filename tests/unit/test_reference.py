"""Tests of the packaged reference data (countries, England-and-Wales bank holidays)."""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources

import pyarrow as pa
import pytest

from retail_lakehouse.generate import COUNTRIES
from retail_lakehouse.reference import (
    COUNTRY_SCHEMA,
    HOLIDAY_SCHEMA,
    bank_holidays,
    countries,
)
from retail_lakehouse.reference._build_bank_holidays import bank_holiday_rows, easter_sunday

ONLINE_RETAIL_II_EXTRA = {"Korea", "Thailand", "Nigeria", "West Indies", "Bermuda"}


def by_raw() -> dict[str, dict[str, object]]:
    return {row["raw_name"]: row for row in countries().to_pylist()}


def holiday_map() -> dict[dt.date, str]:
    return {row["date"]: row["name"] for row in bank_holidays().to_pylist()}


# -------------------------------------------------------------------------- countries


def test_country_schema_and_types() -> None:
    table = countries()
    assert table.schema.equals(COUNTRY_SCHEMA)
    assert table.schema.field("eu_member").type == pa.bool_()
    assert table.num_rows >= 38 + len(ONLINE_RETAIL_II_EXTRA)
    assert all(table.column(name).null_count == 0 for name in table.column_names)


def test_raw_names_are_unique() -> None:
    raw = countries().column("raw_name").to_pylist()
    assert len(raw) == len(set(raw))


def test_every_generated_country_maps() -> None:
    assert set(COUNTRIES) <= set(by_raw())


def test_online_retail_ii_spellings_map() -> None:
    rows = by_raw()
    assert set(rows) >= ONLINE_RETAIL_II_EXTRA
    assert rows["Korea"]["name"] == "South Korea"
    assert rows["Korea"]["iso2"] == "KR"


@pytest.mark.parametrize(
    ("raw", "name", "iso2", "iso3"),
    [
        ("EIRE", "Ireland", "IE", "IRL"),
        ("RSA", "South Africa", "ZA", "ZAF"),
        ("USA", "United States", "US", "USA"),
        ("United Kingdom", "United Kingdom", "GB", "GBR"),
        ("European Community", "European Community", "EU", "XEU"),
        ("Unspecified", "Unspecified", "XX", "XXX"),
        ("Channel Islands", "Channel Islands", "XC", "XCI"),
    ],
)
def test_known_mappings(raw: str, name: str, iso2: str, iso3: str) -> None:
    row = by_raw()[raw]
    assert (row["name"], row["iso2"], row["iso3"]) == (name, iso2, iso3)


def test_canonical_names_map_to_themselves() -> None:
    rows = by_raw()
    for name in {row["name"] for row in rows.values()}:
        assert isinstance(name, str)
        assert rows[name]["name"] == name, name
    assert rows["Ireland"]["iso2"] == "IE"
    assert rows["South Africa"]["iso2"] == "ZA"
    assert rows["United States"]["iso2"] == "US"


def test_attributes_agree_across_spellings() -> None:
    """All raw spellings of one country carry the same codes and attributes."""
    seen: dict[object, tuple[object, ...]] = {}
    for row in countries().to_pylist():
        attrs = tuple(row[c] for c in COUNTRY_SCHEMA.names[2:])
        assert seen.setdefault(row["name"], attrs) == attrs, row["name"]


def test_code_formats() -> None:
    for row in countries().to_pylist():
        assert re.fullmatch(r"[A-Z]{2}", str(row["iso2"])), row
        assert re.fullmatch(r"[A-Z]{3}", str(row["iso3"])), row
        assert re.fullmatch(r"[A-Z]{3}", str(row["currency"])), row
    codes = {row["iso2"]: row["name"] for row in countries().to_pylist()}
    assert len(codes) == len(set(codes.values()))  # one code per canonical country


def test_eu_membership_as_of_2011() -> None:
    rows = by_raw()
    assert rows["United Kingdom"]["eu_member"] is True
    assert rows["EIRE"]["eu_member"] is True
    assert rows["Lithuania"]["eu_member"] is True
    assert rows["Switzerland"]["eu_member"] is False
    assert rows["Norway"]["eu_member"] is False
    assert rows["Channel Islands"]["eu_member"] is False
    assert rows["Germany"]["currency"] == "EUR"
    assert rows["United Kingdom"]["currency"] == "GBP"
    assert rows["Lithuania"]["currency"] == "LTL"  # the litas until 2015


def test_loaders_are_cached() -> None:
    assert countries() is countries()
    assert bank_holidays() is bank_holidays()


def test_files_are_package_resources() -> None:
    """Loaded through importlib.resources, so they travel inside the wheel."""
    package = resources.files("retail_lakehouse.reference")
    for name in ("countries.csv", "uk_bank_holidays.csv", "README.md"):
        assert package.joinpath(name).is_file(), name


# ---------------------------------------------------------------------------- holidays


def test_holiday_schema() -> None:
    table = bank_holidays()
    assert table.schema.equals(HOLIDAY_SCHEMA)
    dates = table.column("date").to_pylist()
    assert dates == sorted(dates)
    assert len(dates) == len(set(dates))
    assert dates[0].year == 2009
    assert dates[-1].year == 2030


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (dt.date(2011, 4, 29), "Royal Wedding"),
        (dt.date(2011, 4, 22), "Good Friday"),
        (dt.date(2011, 4, 25), "Easter Monday"),
        (dt.date(2010, 12, 27), "Christmas Day (substitute day)"),
        (dt.date(2010, 12, 28), "Boxing Day (substitute day)"),
        (dt.date(2011, 1, 3), "New Year's Day (substitute day)"),
        (dt.date(2011, 5, 2), "Early May bank holiday"),
        (dt.date(2011, 5, 30), "Spring bank holiday"),
        (dt.date(2011, 8, 29), "Summer bank holiday"),
        (dt.date(2012, 6, 4), "Spring bank holiday"),
        (dt.date(2012, 6, 5), "Queen's Diamond Jubilee"),
        (dt.date(2020, 5, 8), "Early May bank holiday (VE Day)"),
        (dt.date(2022, 6, 2), "Spring bank holiday"),
        (dt.date(2022, 6, 3), "Platinum Jubilee bank holiday"),
        (dt.date(2022, 9, 19), "Bank Holiday for the State Funeral of Queen Elizabeth II"),
        (dt.date(2023, 5, 8), "Bank holiday for the coronation of King Charles III"),
        (dt.date(2022, 12, 27), "Christmas Day (substitute day)"),
        (dt.date(2020, 12, 28), "Boxing Day (substitute day)"),
        (dt.date(2024, 3, 29), "Good Friday"),
        (dt.date(2025, 4, 21), "Easter Monday"),
    ],
)
def test_known_holidays(day: dt.date, name: str) -> None:
    assert holiday_map()[day] == name


def test_moved_holidays_are_not_on_their_usual_day() -> None:
    holidays = holiday_map()
    for day in (dt.date(2012, 5, 28), dt.date(2020, 5, 4), dt.date(2022, 5, 30)):
        assert day not in holidays
    for day in (dt.date(2010, 12, 25), dt.date(2010, 12, 26)):  # weekend: substituted
        assert day not in holidays


def test_holidays_fall_on_weekdays_and_every_year_has_eight() -> None:
    per_year: dict[int, int] = {}
    for day in holiday_map():
        assert day.weekday() < 5, day
        per_year[day.year] = per_year.get(day.year, 0) + 1
    assert sorted(per_year) == list(range(2009, 2031))
    assert all(count >= 8 for count in per_year.values())
    assert per_year[2011] == 9  # Royal Wedding
    assert per_year[2022] == 10  # Platinum Jubilee and the State Funeral


@pytest.mark.parametrize(
    "sunday",
    [
        dt.date(1818, 3, 22),  # earliest possible
        dt.date(1943, 4, 25),  # latest possible
        dt.date(2000, 4, 23),
        dt.date(2010, 4, 4),
        dt.date(2011, 4, 24),
        dt.date(2019, 4, 21),
        dt.date(2024, 3, 31),
        dt.date(2038, 4, 25),
    ],
)
def test_easter_computus(sunday: dt.date) -> None:
    assert easter_sunday(sunday.year) == sunday


def test_committed_csv_matches_the_builder() -> None:
    """The CSV is generated by the builder script; they must never drift apart."""
    expected = [{"date": day, "name": name} for day, name in bank_holiday_rows()]
    assert bank_holidays().to_pylist() == expected
