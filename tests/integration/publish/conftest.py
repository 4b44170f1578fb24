"""A real PostgreSQL for the publish tests: one throwaway cluster per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pgcluster import Cluster, pg_bin_dir, running_cluster


@pytest.fixture(scope="session")
def pg() -> Iterator[Cluster]:
    """``initdb`` + ``pg_ctl start`` on a free localhost port; stopped by pid at the end."""
    pytest.importorskip("psycopg")
    if pg_bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (make system-deps installs Debian's postgresql)")
    with running_cluster() as cluster:
        yield cluster
