"""The DuckDB engine's lake tables carry the schema Ibis' own ``DESCRIBE`` gives.

``DuckDBEngine.table`` builds its Ibis table from the bound relation's column types instead of
asking Ibis (a ``DESCRIBE`` compiled through sqlglot, every type text parsed again: decision
0020, twelfth round). The schema is part of every expression, hence of the SQL and of the SQL
cache's keys, so it must be the same, type for type and nullability included, for every
table a run writes (decimals, timestamps, dates, booleans, integers of each width, text).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.engines.duckdb import DuckDBEngine
from retail_lakehouse.lake import Lake
from tests.integration.faults import ok


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tables")
    source = root / "a.csv"
    ok("generate", "--rows", "1500", "--seed", "5", "--out", source, lake=root / "x")
    lake = root / "lake"
    ok("ingest", source, lake=lake)
    ok("run", lake=lake)
    return lake


def test_every_written_table_has_the_schema_ibis_describes(built: Path) -> None:
    engine = DuckDBEngine(Lake(built))
    compared = []
    try:
        for layer in ("bronze", "silver", "gold", "meta"):
            for folder in sorted((built / layer).iterdir()):
                if not (folder / "_delta_log").is_dir():
                    continue
                qualified = f"{layer}.{folder.name}"
                table = engine.table(qualified)
                described = engine.backend.table(table.op().name)
                assert table.schema() == described.schema(), qualified
                compared.append(qualified)
    finally:
        engine.close()
    assert {"bronze.sales_lines", "silver.sales_lines", "gold.fact_sales"} <= set(compared)
    assert len(compared) >= 15
