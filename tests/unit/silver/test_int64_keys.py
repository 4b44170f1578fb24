"""64-bit keys follow their documented definition: the first 8 bytes of the MD5, big-endian,
signed, as Python computes them with hashlib (the Spark side is in the parity tests)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from retail_lakehouse.engines import open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.pipeline.hashing import int64_from_hex

TEXTS = ["", "0", "536365\x1f85123A", "Fran\u00e7e", *[f"line {i}" for i in range(500)]]


def _expected(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:8], "big", signed=True)


def test_int64_from_md5_hex_matches_hashlib(tmp_path: Path) -> None:
    with open_engine(Lake(tmp_path / "lake"), "duckdb") as engine:
        table = engine.arrow_table(pa.table({"text": TEXTS}), "texts")
        keyed = table.mutate(key=int64_from_hex(engine, table.text.hexdigest("md5")))
        got = engine.to_arrow(keyed.select("text", "key"))
    found = dict(zip(got.column("text").to_pylist(), got.column("key").to_pylist(), strict=True))
    assert found == {text: _expected(text) for text in TEXTS}
    assert min(found.values()) < 0 < max(found.values())  # both halves of the range occur
    assert got.schema.field("key").type == pa.int64()


def test_a_null_digest_stays_null(tmp_path: Path) -> None:
    with open_engine(Lake(tmp_path / "lake"), "duckdb") as engine:
        table = engine.arrow_table(pa.table({"h": pa.array([None], pa.string())}), "nulls")
        got = engine.to_arrow(table.select(key=int64_from_hex(engine, table.h)))
    assert got.column("key").to_pylist() == [None]
