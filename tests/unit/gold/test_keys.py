"""Surrogate keys: the first 64 bits of the SHA-256 of the natural key, as a signed int64, the
same in Python and in the engine."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pyarrow as pa
import pytest

from retail_lakehouse.engines import Engine, open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.pipeline.gold.keys import (
    SEPARATOR,
    UNKNOWN_DATE_KEY,
    UNKNOWN_KEY,
    UNKNOWN_TIME_KEY,
    date_key,
    surrogate_key,
    time_key,
    ts_key_text,
)


def py_key(*parts: str) -> int:
    digest = hashlib.sha256(SEPARATOR.join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def test_keys_match_a_plain_sha256(engine: Engine) -> None:
    data = pa.table(
        {
            "code": ["85123A", None, "POST"],
            "ts": [datetime(2011, 1, 2, 8, 26), datetime(2011, 5, 1), None],
        }
    )
    t = engine.arrow_table(data, "keys_input")
    out = engine.to_arrow(
        t.select(
            single=surrogate_key(engine, t.code),
            pair=surrogate_key(engine, t.code, ts_key_text(t.ts)),
            date_key=date_key(t.ts),
            time_key=time_key(t.ts),
        )
    ).to_pydict()
    assert out["single"] == [py_key("85123A"), UNKNOWN_KEY, py_key("POST")]
    assert out["pair"] == [py_key("85123A", "2011-01-02 08:26:00"), UNKNOWN_KEY, py_key("POST", "")]
    # both signs occur, so the sign handling of the conversion is exercised
    assert py_key("POST") < 0 < py_key("85123A")
    assert t.select(k=surrogate_key(engine, t.code)).schema()["k"].is_int64()
    assert out["date_key"] == [20110102, 20110501, UNKNOWN_DATE_KEY]
    assert out["time_key"] == [826, 0, UNKNOWN_TIME_KEY]


@pytest.mark.spark
def test_spark_gives_the_same_surrogate_keys(spark_session: None, lake: Lake) -> None:
    """Both engines compute the one key function to the same int64 (both signs, NULL, text
    with the separator and non-ASCII letters), equal to the Python reference."""
    codes = ["85123A", None, "POST", "Ärger ünd", "C536379", "", "x" * 200, *map(str, range(40))]
    data = pa.table({"code": pa.array(codes, pa.string())})
    out = {}
    for name in ("duckdb", "spark"):
        with open_engine(lake, name) as opened:
            t = opened.arrow_table(data, f"keys_{name}")
            result = opened.to_arrow(t.select(t.code, k=surrogate_key(opened, t.code, t.code)))
            out[name] = dict(zip(result["code"].to_pylist(), result["k"].to_pylist(), strict=True))
    expected = {c: (UNKNOWN_KEY if c is None else py_key(c, c)) for c in codes}
    assert out["duckdb"] == expected
    assert out["spark"] == expected
    assert min(v for v in expected.values()) < 0 < max(v for v in expected.values())
