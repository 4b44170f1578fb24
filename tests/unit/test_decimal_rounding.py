"""The portable float -> decimal rule (``engines.base.decimal_from_float_sql``) on DuckDB.

Spark runs the same SQL in the parity tests; here the cases where engines' own rounding
functions went wrong: ties far above 2**50, where DuckDB's ``round_even`` rounds up."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa

from retail_lakehouse.engines.base import decimal_from_float_sql


def _rounded(values: list[float | None], type_: pa.Decimal128Type) -> list[Decimal | None]:
    con = duckdb.connect()
    con.register("t", pa.table({"v": pa.array(values, pa.float64())}))
    rows = con.sql(f"SELECT {decimal_from_float_sql('v', type_)} FROM t").fetchall()
    return [row[0] for row in rows]


def test_ties_go_to_the_even_neighbour_even_for_fifteen_digit_values() -> None:
    tie = 2116404214225828.5 / 1e4  # x 1e4 in double is exactly ...828.5
    assert tie * 1e4 == 2116404214225828.5
    assert _rounded([tie, 2.5, 3.5, -2.5, -3.5], pa.decimal128(18, 4)) == [
        Decimal("211640421422.5828"),
        Decimal("2.5000"),
        Decimal("3.5000"),
        Decimal("-2.5000"),
        Decimal("-3.5000"),
    ]
    assert _rounded([2.5, 3.5, -2.5, -3.5, 0.4, -0.6], pa.decimal128(18, 0)) == [
        Decimal(2),
        Decimal(4),
        Decimal(-2),
        Decimal(-4),
        Decimal(0),
        Decimal(-1),
    ]


def test_nulls_stay_null_and_ordinary_values_round_to_the_nearest() -> None:
    assert _rounded([None, 1.23456, 16.308, -99.99449580], pa.decimal128(18, 4)) == [
        None,
        Decimal("1.2346"),
        Decimal("16.3080"),
        Decimal("-99.9945"),
    ]
