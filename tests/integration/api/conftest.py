"""Fixtures of the API tests: one real lake and one ``retail serve`` shared by read-only tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.integration.api.live import Server, copy_lake, serve


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``retail serve`` over a lake built from generated data (not changed by tests using it)."""
    lake = copy_lake(tmp_path_factory.mktemp("served") / "lake")
    with serve(lake) as running:
        yield running


@pytest.fixture(scope="session")
def lake_sql(server: Server) -> Iterator[LakeSQL]:
    """Direct SQL over the same lake, to check the API's numbers against."""
    with LakeSQL(Lake(server.lake)) as sql:
        yield sql


@pytest.fixture
def private_lake(tmp_path: Path) -> Path:
    """A copy of the generated lake that a test may change."""
    return copy_lake(tmp_path / "lake")
