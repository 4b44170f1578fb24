"""``among``: a column in a list of batch numbers, said as ranges (a million-number ``IN`` list
took Ibis CPU minutes to build), must select exactly what ``isin`` selects."""

from __future__ import annotations

import random

import ibis
import pyarrow as pa

from retail_lakehouse.pipeline.silver.transform import RANGES_AT_MOST, among


def test_among_selects_what_isin_selects() -> None:
    con = ibis.duckdb.connect()
    table = con.create_table("t", pa.table({"b": pa.array(range(0, 3000), pa.int64())}))
    chance = random.Random(7)
    cases = [
        [],
        [5],
        list(range(1, 2001)),
        [*range(1, 100), *range(150, 400), 999, 1000, *range(2500, 2600)],
        list(range(2000, 0, -1)) + [7, 7],  # unsorted, repeated
        sorted(chance.sample(range(3000), RANGES_AT_MOST * 3)),  # scattered: listed
    ]
    for batches in cases:
        got = con.to_pyarrow(table.filter(among(table.b, batches)).b).to_pylist()
        want = con.to_pyarrow(table.filter(table.b.isin(batches or [-1])).b).to_pylist()
        assert sorted(got) == sorted(want), batches[:10]
