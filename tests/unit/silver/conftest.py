"""Fixtures of the silver unit tests: an empty lake and a DuckDB engine on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retail_lakehouse.engines import Engine, open_engine
from retail_lakehouse.lake import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def engine(lake: Lake) -> Iterator[Engine]:
    with open_engine(lake, "duckdb") as opened:
        yield opened
