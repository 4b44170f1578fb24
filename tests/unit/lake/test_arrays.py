"""``lake.arrays`` builds the arrays pyarrow's own conversion builds, and refuses what that
conversion refuses; ``LakeSQL``'s literal parameters give the answers DuckDB's bound ones give."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from retail_lakehouse.lake import arrays
from retail_lakehouse.lake.query import sql_literal

CASES: list[tuple[pa.DataType, list[Any]]] = [
    (pa.string(), ["a", None, "é'x\n", ""]),
    (pa.large_string(), ["a", None]),
    (pa.int64(), [2**63 - 1, -(2**63), None, 0]),
    (pa.int32(), [1, None, -5]),
    (pa.int8(), [127, -128]),
    (pa.uint16(), [65535, None]),
    (pa.float64(), [0.1, None, 1e300, -0.0, 3]),
    (pa.float32(), [0.5, None]),
    (pa.bool_(), [True, False, None, True, True, False, False, True, True]),
    (
        pa.timestamp("us", "UTC"),
        [
            datetime(2026, 12, 5, 5, 48, 50, 454528, tzinfo=UTC),
            None,
            datetime(1960, 1, 1, tzinfo=timezone(timedelta(hours=2))),
            datetime(2020, 1, 1, 12),
        ],
    ),
    (pa.timestamp("us"), [datetime(2020, 1, 1, 0, 0, 0, 1), None, datetime(1900, 5, 5)]),
    (pa.timestamp("ms", "UTC"), [datetime(2020, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)]),
    (pa.date32(), [date(2011, 12, 9), None, date(1950, 1, 1)]),
    (pa.decimal128(12, 2), [Decimal("-12.35"), None, Decimal("0"), Decimal("9999999999.99"), 7]),
    (pa.list_(pa.string()), [["x", None], None, [], ["y"]]),
    (
        pa.list_(pa.struct([("sheet", pa.string()), ("a", pa.string())])),
        [[{"sheet": "s", "a": None}, {"sheet": None}], None, []],
    ),
    (pa.struct([("a", pa.int64()), ("b", pa.string())]), [{"a": 1, "b": "z"}, None, {"b": "q"}]),
    (pa.string(), []),
]


@pytest.mark.parametrize(("type_", "values"), CASES, ids=[str(t) for t, _ in CASES])
def test_arrays_match_pyarrows_conversion(type_: pa.DataType, values: list[Any]) -> None:
    built = arrays.array(values, type_)
    built.validate(full=True)
    assert built.equals(pa.array(values, type_))


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (pa.decimal128(4, 2), Decimal("100.00")),  # precision
        (pa.decimal128(4, 2), Decimal("1.234")),  # scale: would round
        (pa.int8(), 128),
        (pa.string(), 1),
        (pa.int64(), "1"),
        (pa.timestamp("s"), datetime(2020, 1, 1, 0, 0, 0, 5)),
        (pa.date32(), datetime(2020, 1, 1)),
        (pa.duration("s"), timedelta(1)),
    ],
)
def test_arrays_refuse_what_would_change_or_lose_a_value(type_: pa.DataType, value: Any) -> None:
    with pytest.raises((TypeError, ValueError, OverflowError)):
        arrays.array([value], type_)


def test_tables_take_the_schema_and_refuse_unknown_columns() -> None:
    schema = pa.schema([("a", pa.int64()), ("b", pa.string())])
    table = arrays.from_rows([{"a": 1}, {"b": "x"}], schema)
    assert table.equals(pa.Table.from_pylist([{"a": 1}, {"b": "x"}], schema=schema))
    assert arrays.empty_table(schema).equals(schema.empty_table())
    with pytest.raises(ValueError, match="not in the schema"):
        arrays.from_rows([{"c": 1}], schema)


def test_pylist_matches_to_pylist_with_zoned_timestamps() -> None:
    table = pa.table(
        {
            "at": pa.array(
                [datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None], pa.timestamp("us", "UTC")
            ),
            "local": pa.array([datetime(2020, 1, 1), None], pa.timestamp("us")),
            "berlin": pa.array(
                [datetime(2026, 7, 1, tzinfo=UTC), None], pa.timestamp("us", "Europe/Berlin")
            ),
            "n": [1, None],
        }
    )
    mine, theirs = arrays.pylist(table), table.to_pylist()
    assert mine == theirs
    assert [type(r["at"].tzinfo) for r in mine if r["at"]] == [
        type(r["at"].tzinfo) for r in theirs if r["at"]
    ]
    assert mine[0]["berlin"].utcoffset() == theirs[0]["berlin"].utcoffset()


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(2**63),
        2**63 - 1,
        0.1,
        float("inf"),
        "it's",
        "",
        "é\n%$1?",
        # text a file or a user may carry, which must stay one value: never SQL
        "'); DROP TABLE bronze.files; --",
        "\\'",
        "\\",
        "''",
        "x' || 'y",
        "$$ $1 $$",
        "\u2019 \u02bc \uff07",
        "E'\\x27'",
        date(2011, 12, 9),
        datetime(2020, 1, 1, 12, 30, 0, 5),
        datetime(2020, 1, 1, 12, 30, 0, 5, tzinfo=UTC),
        datetime(2020, 1, 1, 12, 30, tzinfo=timezone(timedelta(hours=-5))),
        ["a", "b'c"],
        [1, 2],
    ],
)
def test_sql_literals_give_what_bound_parameters_give(value: Any) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    question = "SELECT $1 AS v, typeof($1) AS t"
    bound = con.execute(question, [value]).fetchall()
    con.execute(f"PREPARE q AS {question}")
    literal = con.execute(f"EXECUTE q({sql_literal(value)})").fetchall()
    assert literal == bound


def test_sql_literals_refuse_unknown_types_and_nul() -> None:
    with pytest.raises(TypeError):
        sql_literal(Decimal("1.5"))
    with pytest.raises(ValueError, match="NUL"):
        sql_literal("a\x00b")
    with pytest.raises(ValueError, match="range"):
        sql_literal(2**63)
