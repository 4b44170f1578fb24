"""``Engine.serial``: an append's statements on one DuckDB thread, the default again after the
block, also when it fails (decision 0020, eleventh round)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.engines import open_engine
from retail_lakehouse.engines.duckdb import DuckDBEngine
from retail_lakehouse.lake import Lake


def _threads(engine: DuckDBEngine) -> int:
    row = engine._con.con.execute("SELECT current_setting('threads')").fetchone()
    assert row is not None
    return int(row[0])


def test_few_lines_run_on_one_thread_and_the_default_comes_back(tmp_path: Path) -> None:
    with open_engine(Lake(tmp_path / "lake"), "duckdb") as engine:
        assert isinstance(engine, DuckDBEngine)
        default = _threads(engine)
        with engine.serial(False):
            assert _threads(engine) == default
        with engine.serial(True):
            assert _threads(engine) == 1
        assert _threads(engine) == default
        with pytest.raises(RuntimeError), engine.serial(True):
            raise RuntimeError("a failed step")
        assert _threads(engine) == default
