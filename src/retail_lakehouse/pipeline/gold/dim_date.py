"""``gold.dim_date``: one row per calendar day of every year the data touches.

The calendar is generated, not derived from lines, so it is built once in Arrow the same
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

from array import array
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.lake import arrays
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


_EPOCH = date(1970, 1, 1)
# Indexed by month number (index 0 unused): twelve constants, not a loop over days.
_SEASON_BY_MONTH = arrays.array([None, *(_SEASONS[m] for m in range(1, 13))], pa.string())
_FISCAL_QUARTER_BY_MONTH = arrays.array(
    [None, *(((m + 8) % 12) // 3 + 1 for m in range(1, 13))], pa.int32()
)
# The int32 constants of the kernels below, as Arrow scalars: a Python number handed to a
# compute function is converted by pyarrow, which imports pandas the first time.
_I = {n: arrays.array([n], pa.int32())[0] for n in (4, 6, 100, 10000)}


def calendar_bounds(first: date, last: date) -> tuple[date, date]:
    """The days ``dim_date`` holds for data from ``first`` to ``last``: their whole years."""
    return date(first.year, 1, 1), date(last.year, 12, 31)


def build_dim_date(first: date, last: date) -> pa.Table:
    """Every day of the years from ``first`` to ``last``, plus the unknown member.

    Arrow compute kernels over one array of days (Polars did this until decision 0011's third
    round: importing it cost every run with new lines 0.1 s for these few thousand rows)."""
    start, end = calendar_bounds(first, last)
    epoch = (start - _EPOCH).days
    count = (end - start).days + 1
    # From the day numbers' buffer: ``pa.array`` of a NumPy array imports pandas (0.2 s), and
    # ``retail run`` does not load NumPy at all (decision 0011, ninth round).
    numbers = array("i", range(epoch, epoch + count))
    days = pa.Array.from_buffers(pa.date32(), count, [None, pa.py_buffer(numbers)])
    holidays = bank_holidays()
    holiday = pc.index_in(days, value_set=holidays.column("date"))
    year = pc.year(days).cast(pa.int32())
    month = pc.month(days).cast(pa.int32())
    day = pc.day(days).cast(pa.int32())
    weekday = pc.day_of_week(days, count_from_zero=False, week_start=1).cast(pa.int32())
    frame = pa.table(
        {
            "date": days,
            "bank_holiday_name": pc.take(holidays.column("name"), holiday),
            "date_key": pc.add(
                pc.add(pc.multiply(year, _I[10000]), pc.multiply(month, _I[100])), day
            ),
            "year": year,
            "quarter": pc.quarter(days).cast(pa.int32()),
            "month": month,
            "month_name": pc.strftime(days, format="%B", locale="C"),
            "day": day,
            "day_of_week": weekday,
            "day_name": pc.strftime(days, format="%A", locale="C"),
            "iso_year": pc.iso_year(days).cast(pa.int32()),
            "iso_week": pc.iso_week(days).cast(pa.int32()),
            "fiscal_year": pc.add(year, pc.greater_equal(month, _I[4]).cast(pa.int32())),
            "fiscal_quarter": pc.take(_FISCAL_QUARTER_BY_MONTH, month),
            "is_weekend": pc.greater_equal(weekday, _I[6]),
            "is_bank_holiday": pc.is_valid(holiday),
            "season": pc.take(_SEASON_BY_MONTH, month),
        }
    )
    unknown = arrays.table(
        {
            "date_key": [UNKNOWN_DATE_KEY],
            "month_name": ["Unknown"],
            "day_name": ["Unknown"],
            "season": ["Unknown"],
            "is_weekend": [False],
            "is_bank_holiday": [False],
        },
        DIM_DATE.schema,
    )
    known = cast_batch(frame, DIM_DATE)
    return pa.concat_tables([cast_batch(unknown, DIM_DATE), known])
