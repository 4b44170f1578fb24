"""Every data file of every table has the types its Delta schema declares (fifteenth round's
audit): ``gold.mart_daily_sales.units`` was written as DOUBLE under a ``long`` schema (DuckDB's
sum of BIGINT is a HUGEINT, which Ibis types int64, so the writer's cast was skipped and
DuckDB's Parquet writer stored it as DOUBLE). ``retail sql`` then typed it DOUBLE, the API
answered ``"units":107.0`` where its OpenAPI schema says integer, and an engine reading the
table by its Delta schema (Spark) meets a column of the wrong type."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from retail_lakehouse.lake import Lake
from tests.conftest import REAL_DATA, run_retail

pytestmark = pytest.mark.slow


def _plain(dtype: pa.DataType) -> pa.DataType:
    """delta-rs reports strings as large/view strings and lists by another field name."""
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    return dtype


def test_every_data_file_has_its_table_s_declared_types(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for args in (("ingest", REAL_DATA / "online_retail_head_1071.csv"), ("run",)):
        done = run_retail(*args, lake=lake)
        assert done.code == 0, done.stderr
    wrong = []
    for name in Lake(lake).tables():
        table = DeltaTable(str(lake.joinpath(*name.split("."))))
        declared = pa.schema(table.schema().to_arrow())
        for uri in table.file_uris():
            for column in pq.read_schema(uri.removeprefix("file://")):
                want = _plain(declared.field(column.name).type)
                nested = pa.types.is_list(want) or pa.types.is_struct(want)
                if not nested and column.type != want:
                    wrong.append((name, column.name, str(column.type), str(want)))
    assert wrong == []
    typed = run_retail(
        "sql",
        "-f",
        "json",
        "SELECT typeof(units) AS t FROM gold.mart_daily_sales LIMIT 1",
        lake=lake,
    )
    assert typed.code == 0 and typed.json() == [{"t": "BIGINT"}], typed.stdout + typed.stderr
