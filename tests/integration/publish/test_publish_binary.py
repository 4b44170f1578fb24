"""The binary ``COPY`` path publishes exactly what the CSV path publishes.

Binary ``COPY`` is the default (``publish/binary.py``); CSV remains for types without a binary
encoding here (lists). Both are checked against the real server: every type a contract uses and
the awkward values of each (NULL vs empty text, unicode, quotes and backslashes, negative zero,
the largest and smallest ``numeric(18,4)``, dates and timestamps before 2000 and at the ends of
PostgreSQL's range), then a whole lake published both ways.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from retail_lakehouse.publish import binary, stream
from tests.integration.publish.support import content_digest, create_database, ok, retail_env
from tests.pgcluster import Cluster

_UTC = dt.UTC
_BIG = Decimal("99999999999999.9999")

SCHEMA = pa.schema(
    [
        ("i8", pa.int64()),
        ("i4", pa.int32()),
        ("i2", pa.int16()),
        ("f8", pa.float64()),
        ("f4", pa.float32()),
        ("b", pa.bool_()),
        ("d", pa.date32()),
        ("ts", pa.timestamp("us")),
        ("tz", pa.timestamp("us", "UTC")),
        ("tms", pa.timestamp("ms")),
        ("money", pa.decimal128(18, 4)),
        ("m2", pa.decimal128(10, 2)),
        ("m0", pa.decimal128(18, 0)),
        ("m5", pa.decimal128(12, 5)),
        ("s", pa.string()),
    ]
)
COLUMNS = {
    "i8": [0, -1, 2**63 - 1, -(2**63), None, 42],
    "i4": [0, -1, 2**31 - 1, -(2**31), None, 7],
    "i2": [0, -1, 32767, -32768, None, 3],
    "f8": [0.0, -0.0, 1e308, float("inf"), None, float("nan")],
    "f4": [0.0, 1.5, -3.25, float("-inf"), None, 1e-30],
    "b": [True, False, None, True, False, True],
    "d": [
        dt.date(2000, 1, 1),
        dt.date(1970, 1, 1),
        dt.date(1, 1, 1),
        dt.date(9999, 12, 31),
        None,
        dt.date(2010, 12, 1),
    ],
    "ts": [
        dt.datetime(2000, 1, 1),
        dt.datetime(1999, 12, 31, 23, 59, 59, 999999),
        dt.datetime(1, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59, 59),
        None,
        dt.datetime(2010, 12, 1, 8, 26, 0, 123456),
    ],
    "tz": [
        dt.datetime(2000, 1, 1, tzinfo=_UTC),
        None,
        dt.datetime(1960, 5, 5, 1, 2, 3, tzinfo=_UTC),
        dt.datetime(2030, 1, 1, tzinfo=_UTC),
        None,
        dt.datetime(2010, 12, 1, 8, 26, tzinfo=_UTC),
    ],
    "tms": [
        dt.datetime(2000, 1, 1, 0, 0, 0, 1000),
        None,
        dt.datetime(1969, 12, 31, 23, 59, 59, 999000),
        dt.datetime(2024, 2, 29),
        None,
        dt.datetime(2010, 12, 1),
    ],
    "money": [Decimal("0"), Decimal("-0.0001"), _BIG, -_BIG, None, Decimal("12.5")],
    "m2": [
        Decimal("0.01"),
        Decimal("-12345678.99"),
        Decimal("10000"),
        Decimal("-0.00"),
        None,
        Decimal("1.10"),
    ],
    "m0": [
        Decimal("999999999999999999"),
        Decimal("-999999999999999999"),
        Decimal("10000"),
        Decimal("0"),
        None,
        Decimal("-1"),
    ],
    "m5": [
        Decimal("0.00001"),
        Decimal("-1234567.12345"),
        Decimal("0.1"),
        Decimal("9999999.99999"),
        None,
        Decimal("-0.00010"),
    ],
    "s": ["", None, 'héllo ☃ 𝄞 "q",\\n\n\r\t', "a" * 70_000, "NULL", "\\N"],
}


def test_encoder_covers_the_gold_contracts() -> None:
    """Every gold table goes binary (a contract type without an encoding would fall back to
    CSV silently and lose the speed); lists do not, and fall back."""
    from retail_lakehouse.publish import ddl

    assert all(binary.supports(t.schema) for t in ddl.published_tables())
    assert not binary.supports(pa.schema([("tags", pa.list_(pa.string()))]))
    assert not binary.supports(pa.schema([("n", pa.decimal128(38, 4))]))


def test_binary_copy_stores_the_same_values_as_csv(
    pg: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from psycopg import sql

    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.query import LakeSQL
    from retail_lakehouse.publish.ddl import pg_type

    table = pa.table(COLUMNS, schema=SCHEMA)
    dsn = create_database(pg, "binary_values")
    columns = ", ".join(f"{f.name} {pg_type(f.type)}" for f in SCHEMA)
    with (
        LakeSQL(Lake(tmp_path / "empty"), tables=[]) as lake_sql,
        psycopg.connect(dsn) as conn,
        conn.cursor() as cur,
    ):
        lake_sql.con.register("src", table)
        for name, use_binary in (("via_csv", False), ("via_binary", True)):
            monkeypatch.setattr(stream, "BINARY", use_binary)
            cur.execute(f"CREATE TABLE {name} (k serial PRIMARY KEY, {columns})")
            # two record batches of 4 rows: rows of a later batch follow the first's
            monkeypatch.setattr(stream, "BATCH_ROWS", 4)
            sent = stream.copy_query(cur, sql.Identifier(name), SCHEMA, lake_sql, "src")
            assert sent == table.num_rows
        conn.commit()
        rows = {}
        for name in ("via_csv", "via_binary"):
            # the text form of every value and whether it is NULL: NULL and '' differ
            cur.execute(
                f"SELECT {', '.join(f'{c}::text, {c} IS NULL' for c in SCHEMA.names)} "
                f"FROM {name} ORDER BY k"
            )
            rows[name] = cur.fetchall()
    assert rows["via_binary"] == rows["via_csv"]
    by_column = {c: [row[2 * i] for row in rows["via_binary"]] for i, c in enumerate(SCHEMA.names)}
    assert by_column["money"] == [
        "0.0000",
        "-0.0001",
        "99999999999999.9999",
        "-99999999999999.9999",
        None,
        "12.5000",
    ]
    assert by_column["m2"][3] == "0.00" and by_column["m5"][5] == "-0.00010"
    assert by_column["s"][:2] == ["", None] and by_column["s"][2] == COLUMNS["s"][2]
    assert by_column["ts"][1] == "1999-12-31 23:59:59.999999"
    assert by_column["d"][2] == "0001-01-01"
    assert by_column["f8"][5] == "NaN" and by_column["i8"][3] == str(-(2**63))


def test_a_lake_published_binary_equals_csv(
    pg: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every gold table, both ways, into two schemas: the same rows, byte for byte as text."""
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.publish.postgres import publish
    from retail_lakehouse.publish.target import Target

    dsn = create_database(pg, "binary_lake")
    source = tmp_path / "generated.csv"
    lake = tmp_path / "lake"
    ok(retail_env("generate", "--rows", "3000", "--out", source, lake=lake))
    ok(retail_env("ingest", source, lake=lake))
    ok(retail_env("run", lake=lake))
    for schema, use_binary in (("via_csv", False), ("via_binary", True)):
        monkeypatch.setattr(stream, "BINARY", use_binary)
        publish(Lake(lake), Target(dsn, schema))
    csv_side = content_digest(pg, "binary_lake", "via_csv")
    binary_side = content_digest(pg, "binary_lake", "via_binary")
    state = "_retail_publish"  # holds run ids and times: differs by construction
    assert {k: v for k, v in binary_side.items() if k != state} == {
        k: v for k, v in csv_side.items() if k != state
    }
    assert int(binary_side["fact_sales"].split()[0]) > 2000
