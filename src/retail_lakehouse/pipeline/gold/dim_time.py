"""``gold.dim_time``: one row per minute of the day (``time_key`` = hhmm), plus the unknown time.

Day parts: Night 00:00-05:59, Morning 06:00-11:59, Afternoon 12:00-17:59, Evening 18:00-21:59,
Night 22:00-23:59. Business hours are 09:00-17:59 (the shop's trading hours; the weekday is in
``dim_date``). ``time_key`` -1 is the unknown time (0 is midnight).
"""

from __future__ import annotations

import pyarrow as pa

from retail_lakehouse.lake import arrays
from retail_lakehouse.lake.contracts.gold import DIM_TIME
from retail_lakehouse.lake.store import cast_batch
from retail_lakehouse.pipeline.gold.keys import UNKNOWN_TIME_KEY

BUSINESS_HOURS = range(9, 18)
_DAY_PARTS: tuple[tuple[int, str], ...] = (
    (6, "Night"),
    (12, "Morning"),
    (18, "Afternoon"),
    (22, "Evening"),
    (24, "Night"),
)


def day_part_of_hour(hour: int) -> str:
    """The day part an hour (0-23) belongs to."""
    return next(name for end, name in _DAY_PARTS if hour < end)


def build_dim_time() -> pa.Table:
    """The 1,440 minutes of a day and the unknown member (built from Python values by
    :mod:`retail_lakehouse.lake.arrays`: pyarrow's own conversion imports pandas)."""
    hours = [m // 60 for m in range(24 * 60)]
    minutes = [m % 60 for m in range(24 * 60)]
    known = arrays.table(
        {
            "time_key": [h * 100 + m for h, m in zip(hours, minutes, strict=True)],
            "hour": hours,
            "minute": minutes,
            "day_part": [day_part_of_hour(h) for h in hours],
            "is_business_hour": [h in BUSINESS_HOURS for h in hours],
        },
        DIM_TIME.schema,
    )
    unknown = arrays.table(
        {"time_key": [UNKNOWN_TIME_KEY], "day_part": ["Unknown"], "is_business_hour": [False]},
        DIM_TIME.schema,
    )
    return pa.concat_tables([cast_batch(unknown, DIM_TIME), cast_batch(known, DIM_TIME)])
