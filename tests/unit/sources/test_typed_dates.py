"""Typed Parquet dates and timestamps become the bronze text silver reads (decision 0017,
addenda on typed timestamps and on the lake's time zone): nothing the file said dropped, an
instant kept as an instant."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail_lakehouse.sources.limits import ReaderLimits
from retail_lakehouse.sources.tabular import open_parquet

# 2011-12-31 23:59:59.999999 UTC; Berlin's spring change (01:30 CET, 03:30 CEST: 00:30 and
# 01:30 UTC); the two 02:30 of Berlin's autumn change (CEST then CET: 00:30 and 01:30 UTC).
INSTANTS = [
    1325375999_999_999,
    1301185800_000_000,
    1301189400_000_000,
    1319934600_000_000,
    1319938200_000_000,
]
AS_WRITTEN = {
    "UTC": [
        "2011-12-31T23:59:59.999999Z",
        "2011-03-27T00:30:00Z",
        "2011-03-27T01:30:00Z",
        "2011-10-30T00:30:00Z",
        "2011-10-30T01:30:00Z",
    ],
    "Europe/Berlin": [
        "2012-01-01T00:59:59.999999+01:00",
        "2011-03-27T01:30:00+01:00",
        "2011-03-27T03:30:00+02:00",
        "2011-10-30T02:30:00+02:00",
        "2011-10-30T02:30:00+01:00",
    ],
    "Asia/Kolkata": [
        "2012-01-01T05:29:59.999999+05:30",
        "2011-03-27T06:00:00+05:30",
        "2011-03-27T07:00:00+05:30",
        "2011-10-30T06:00:00+05:30",
        "2011-10-30T07:00:00+05:30",
    ],
}


def bronze_text(tmp_path: Path, column: pa.Array) -> list[str | None]:
    path = tmp_path / "typed.parquet"
    others = ["InvoiceNo", "StockCode", "Description", "Quantity", "UnitPrice", "CustomerID"]
    table = {name: pa.array(["1"] * len(column)) for name in others + ["Country"]}
    pq.write_table(pa.table({**table, "InvoiceDate": column}), path)
    chunks = list(open_parquet(path, ReaderLimits()).chunks)
    return [v for chunk in chunks for v in chunk.rows["invoice_date"].to_list()]


@pytest.mark.parametrize("zone", sorted(AS_WRITTEN))
def test_a_zoned_timestamp_stays_an_instant_as_its_zone_wrote_it(tmp_path: Path, zone: str) -> None:
    """The file zone's clock and its offset (``Z`` for UTC): the two 02:30 of Berlin's autumn
    change stay two texts; silver converts them to the lake's zone (decision 0017, addendum on
    the lake's time zone)."""
    column = pa.array(INSTANTS + [None], pa.timestamp("us", tz=zone))
    assert bronze_text(tmp_path, column) == AS_WRITTEN[zone] + [None]


@pytest.mark.parametrize(
    ("unit", "values", "text"),
    [
        ("s", [datetime(2011, 3, 27, 1, 30)], ["2011-03-27 01:30:00"]),
        ("ms", [datetime(2011, 12, 31, 23, 59, 59, 999000)], ["2011-12-31 23:59:59.999"]),
        ("us", [datetime(2011, 12, 31, 23, 59, 59, 999999)], ["2011-12-31 23:59:59.999999"]),
        ("ns", [datetime(2010, 12, 1, 8, 26, 0, 500000)], ["2010-12-01 08:26:00.500"]),
        ("us", [datetime(2010, 12, 1, 8, 26)], ["2010-12-01 08:26:00"]),
    ],
)
def test_a_wall_clock_keeps_its_fraction(
    tmp_path: Path, unit: str, values: list[datetime], text: list[str]
) -> None:
    assert bronze_text(tmp_path, pa.array(values, pa.timestamp(unit))) == text


def test_nanoseconds_are_kept(tmp_path: Path) -> None:
    column = pa.array([1325375999_999_999_999], pa.timestamp("ns"))
    assert bronze_text(tmp_path, column) == ["2011-12-31 23:59:59.999999999"]
    zoned = pa.array([1325375999_999_999_999], pa.timestamp("ns", tz="Asia/Tokyo"))
    assert bronze_text(tmp_path, zoned) == ["2012-01-01T08:59:59.999999999+09:00"]


def test_a_date_column_is_read(tmp_path: Path) -> None:
    column = pa.array([date(2011, 12, 31), None], pa.date32())
    assert bronze_text(tmp_path, column) == ["2011-12-31", None]
