"""``gold.dim_date``: one row per calendar day of every year the data touches.

The calendar is generated, not derived from lines, so it is built once in Arrow (Polars) the same
way whatever engine runs the pipeline. It covers whole years (1 January of the first year with
data to 31 December of the last), so typical incremental runs leave it untouched and dashboards
see days without sales too.

Conventions: ``day_of_week`` is ISO (1 = Monday ... 7 = Sunday); ``iso_year``/``iso_week`` are
ISO 8601 weeks; the UK fiscal year starts on 1 April and is named after the calendar year it
ends in (FY2012 = April 2011 - March 2012), ``fiscal_quarter`` 1 = April-June; bank holidays
are England and Wales ones, by name, from :func:`retail_lakehouse.reference.bank_holidays`;
``season`` is meteorological for the northern hemisphere (Winter = December-February, Spring =
March-May, Summer = June-August, Autumn = September-November). Row ``date_key`` 0 is the unknown
date.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pyarrow as pa

from retail_lakehouse.lake.contracts.gold import DIM_DATE
from retail_lakehouse.lake.store import cast_batch
from retail_lakehouse.pipeline.gold.keys import UNKNOWN_DATE_KEY
from retail_lakehouse.reference import bank_holidays

_SEASONS: dict[int, str] = {
    **dict.fromkeys((12, 1, 2), "Winter"),
    **dict.fromkeys((3, 4, 5), "Spring"),
    **dict.fromkeys((6, 7, 8), "Summer"),
    **dict.fromkeys((9, 10, 11), "Autumn"),
}


def calendar_bounds(first: date, last: date) -> tuple[date, date]:
    """The days ``dim_date`` holds for data from ``first`` to ``last``: their whole years."""
    return date(first.year, 1, 1), date(last.year, 12, 31)


def build_dim_date(first: date, last: date) -> pa.Table:
    """Every day of the years from ``first`` to ``last``, plus the unknown member."""
    start, end = calendar_bounds(first, last)
    holidays = pl.from_arrow(bank_holidays())
    assert isinstance(holidays, pl.DataFrame)
    days = pl.DataFrame({"date": pl.date_range(start, end, interval="1d", eager=True)})
    d = pl.col("date")
    month = d.dt.month().cast(pl.Int32)  # Int8 would overflow in month * 100
    frame = (
        days.join(holidays.rename({"name": "bank_holiday_name"}), on="date", how="left")
        .with_columns(
            date_key=d.dt.year().cast(pl.Int32) * 10000 + month * 100 + d.dt.day().cast(pl.Int32),
            year=d.dt.year().cast(pl.Int32),
            quarter=d.dt.quarter().cast(pl.Int32),
            month=month.cast(pl.Int32),
            month_name=d.dt.strftime("%B"),
            day=d.dt.day().cast(pl.Int32),
            day_of_week=d.dt.weekday().cast(pl.Int32),
            day_name=d.dt.strftime("%A"),
            iso_year=d.dt.iso_year().cast(pl.Int32),
            iso_week=d.dt.week().cast(pl.Int32),
            fiscal_year=(d.dt.year() + (month >= 4).cast(pl.Int32)).cast(pl.Int32),
            fiscal_quarter=(((month + 8) % 12) // 3 + 1).cast(pl.Int32),
            is_weekend=d.dt.weekday() >= 6,
            is_bank_holiday=pl.col("bank_holiday_name").is_not_null(),
            season=month.replace_strict(_SEASONS, return_dtype=pl.String),
        )
        .sort("date")
    )
    unknown = pa.table(
        {
            "date_key": pa.array([UNKNOWN_DATE_KEY], pa.int32()),
            "month_name": ["Unknown"],
            "day_name": ["Unknown"],
            "season": ["Unknown"],
            "is_weekend": [False],
            "is_bank_holiday": [False],
        }
    )
    known = cast_batch(frame.to_arrow(), DIM_DATE)
    return pa.concat_tables([cast_batch(unknown, DIM_DATE), known])
