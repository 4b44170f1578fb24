"""dim_date and dim_time: whole years, ISO weeks, UK fiscal year, bank holidays, day parts."""

from __future__ import annotations

from datetime import date

from retail_lakehouse.pipeline.gold.dim_date import build_dim_date
from retail_lakehouse.pipeline.gold.dim_time import build_dim_time


def test_dim_date_covers_whole_years_and_knows_uk_holidays() -> None:
    table = build_dim_date(date(2010, 12, 1), date(2011, 12, 9))
    by_key = {row["date_key"]: row for row in table.to_pylist()}
    assert len(by_key) == 1 + 365 + 365  # the unknown member plus 2010 and 2011
    assert by_key[0]["date"] is None and by_key[0]["day_name"] == "Unknown"
    assert min(k for k in by_key if k) == 20100101 and max(by_key) == 20111231
    wedding = by_key[20110429]
    assert wedding["is_bank_holiday"] and wedding["bank_holiday_name"] == "Royal Wedding"
    assert (wedding["day_name"], wedding["day_of_week"], wedding["is_weekend"]) == (
        "Friday",
        5,
        False,
    )
    new_year = by_key[20110101]  # a Saturday in ISO week 52 of 2010
    assert (new_year["iso_year"], new_year["iso_week"], new_year["is_weekend"]) == (2010, 52, True)
    assert not by_key[20110101]["is_bank_holiday"]  # moved to Monday 3 January
    assert by_key[20110103]["bank_holiday_name"] == "New Year's Day (substitute day)"
    march, april = by_key[20110331], by_key[20110401]
    assert (march["fiscal_year"], march["fiscal_quarter"]) == (2011, 4)
    assert (april["fiscal_year"], april["fiscal_quarter"]) == (2012, 1)
    assert (by_key[20111209]["quarter"], by_key[20111209]["season"]) == (4, "Winter")
    assert by_key[20110615]["season"] == "Summer" and by_key[20110915]["season"] == "Autumn"
    assert by_key[20110315]["month_name"] == "March"


def test_dim_time_has_every_minute_and_day_parts() -> None:
    table = build_dim_time()
    by_key = {row["time_key"]: row for row in table.to_pylist()}
    assert len(by_key) == 24 * 60 + 1
    assert by_key[-1]["day_part"] == "Unknown"
    assert by_key[0] == {
        "time_key": 0,
        "hour": 0,
        "minute": 0,
        "day_part": "Night",
        "is_business_hour": False,
    }
    assert by_key[826]["day_part"] == "Morning" and not by_key[826]["is_business_hour"]
    assert by_key[900]["is_business_hour"] and by_key[1759]["is_business_hour"]
    assert not by_key[1800]["is_business_hour"] and by_key[1800]["day_part"] == "Evening"
    assert by_key[1230]["day_part"] == "Afternoon" and by_key[2215]["day_part"] == "Night"
