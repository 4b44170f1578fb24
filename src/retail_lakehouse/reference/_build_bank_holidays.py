"""Build ``uk_bank_holidays.csv`` (England and Wales bank holidays, 2009-2030).

The CSV is committed and shipped in the wheel so the lakehouse never needs the network
(gov.uk only publishes a rolling window of a few years, and 2009-2011 is exactly the period
the UCI data covers). This script is the single source of truth for how the file was made:
the regular holidays follow the Banking and Financial Dealings Act 1971 rules (Easter from
the Gregorian computus, "substitute days" when a fixed-date holiday falls on a weekend) and
the one-off proclamations (royal events, moved May holidays) are listed explicitly.
``tests/unit/test_reference.py`` regenerates the rows and compares them with the CSV, so
the two can never drift apart silently.

Run it with ``uv run python -m retail_lakehouse.reference._build_bank_holidays``.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

FIRST_YEAR = 2009
LAST_YEAR = 2030

NEW_YEAR = "New Year's Day"
GOOD_FRIDAY = "Good Friday"
EASTER_MONDAY = "Easter Monday"
EARLY_MAY = "Early May bank holiday"
SPRING = "Spring bank holiday"
SUMMER = "Summer bank holiday"
CHRISTMAS = "Christmas Day"
BOXING = "Boxing Day"
SUBSTITUTE = " (substitute day)"

#: Regular holidays that were moved by proclamation: (year, regular name) -> new date.
_MOVED: dict[tuple[int, str], tuple[dt.date, str]] = {
    (2012, SPRING): (dt.date(2012, 6, 4), SPRING),
    (2020, EARLY_MAY): (dt.date(2020, 5, 8), "Early May bank holiday (VE Day)"),
    (2022, SPRING): (dt.date(2022, 6, 2), SPRING),
}

#: Additional one-off holidays proclaimed for royal and state events.
_EXTRA: tuple[tuple[dt.date, str], ...] = (
    (dt.date(2011, 4, 29), "Royal Wedding"),
    (dt.date(2012, 6, 5), "Queen's Diamond Jubilee"),
    (dt.date(2022, 6, 3), "Platinum Jubilee bank holiday"),
    (dt.date(2022, 9, 19), "Bank Holiday for the State Funeral of Queen Elizabeth II"),
    (dt.date(2023, 5, 8), "Bank holiday for the coronation of King Charles III"),
)

_SATURDAY = 5
_SUNDAY = 6
_MONDAY = 0


def easter_sunday(year: int) -> dt.date:
    """Return Western (Gregorian) Easter Sunday via the anonymous Gregorian computus.

    Good Friday and Easter Monday are the only movable regular bank holidays, so the
    whole calendar hinges on getting this right; it is checked against known dates in
    the tests.
    """
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _first_monday(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    return day + dt.timedelta(days=(_MONDAY - day.weekday()) % 7)


def _last_monday(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - _MONDAY) % 7)


def _regular(year: int) -> list[tuple[dt.date, str]]:
    """Regular England-and-Wales holidays of one year, with weekend substitutes."""
    out: list[tuple[dt.date, str]] = []

    new_year = dt.date(year, 1, 1)
    if new_year.weekday() == _SATURDAY:
        out.append((dt.date(year, 1, 3), NEW_YEAR + SUBSTITUTE))
    elif new_year.weekday() == _SUNDAY:
        out.append((dt.date(year, 1, 2), NEW_YEAR + SUBSTITUTE))
    else:
        out.append((new_year, NEW_YEAR))

    easter = easter_sunday(year)
    out.append((easter - dt.timedelta(days=2), GOOD_FRIDAY))
    out.append((easter + dt.timedelta(days=1), EASTER_MONDAY))
    out.append((_first_monday(year, 5), EARLY_MAY))
    out.append((_last_monday(year, 5), SPRING))
    out.append((_last_monday(year, 8), SUMMER))

    christmas = dt.date(year, 12, 25)
    boxing = dt.date(year, 12, 26)
    wd = christmas.weekday()
    if wd == _SATURDAY:  # Christmas on Mon 27th, Boxing Day on Tue 28th
        out.append((dt.date(year, 12, 27), CHRISTMAS + SUBSTITUTE))
        out.append((dt.date(year, 12, 28), BOXING + SUBSTITUTE))
    elif wd == _SUNDAY:  # Boxing Day stays on Mon 26th, Christmas moves to Tue 27th
        out.append((boxing, BOXING))
        out.append((dt.date(year, 12, 27), CHRISTMAS + SUBSTITUTE))
    elif boxing.weekday() == _SATURDAY:  # Christmas on Friday
        out.append((christmas, CHRISTMAS))
        out.append((dt.date(year, 12, 28), BOXING + SUBSTITUTE))
    else:
        out.append((christmas, CHRISTMAS))
        out.append((boxing, BOXING))

    moved: list[tuple[dt.date, str]] = []
    for day, name in out:
        moved.append(_MOVED.get((year, name), (day, name)))
    return moved


def bank_holiday_rows(
    first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR
) -> list[tuple[dt.date, str]]:
    """All England-and-Wales bank holidays of ``first_year..last_year``, sorted by date."""
    rows: list[tuple[dt.date, str]] = []
    for year in range(first_year, last_year + 1):
        rows.extend(_regular(year))
    rows.extend(item for item in _EXTRA if first_year <= item[0].year <= last_year)
    return sorted(rows)


def write_csv(path: Path) -> int:
    """Write the CSV (``date,name``, ISO dates, LF line endings); return the row count."""
    rows = bank_holiday_rows()
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["date", "name"])
        for day, name in rows:
            writer.writerow([day.isoformat(), name])
    return len(rows)


def main() -> None:
    """Regenerate the committed CSV next to this module."""
    target = Path(__file__).with_name("uk_bank_holidays.csv")
    count = write_csv(target)
    print(f"wrote {count} holidays to {target}")


if __name__ == "__main__":
    main()
