"""Recovery commands given wrong arguments, from the user's side (fifteenth round's audit): each
is a refusal naming the argument and the reason, exit 2, never an internal error, and the lake
is left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from tests.conftest import REAL_DATA, run_retail

SAMPLE = REAL_DATA / "online_retail_ii_head_99_bom.csv"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small lake, ingested and run."""
    root = tmp_path_factory.mktemp("recover-refusals") / "lake"
    for args in (("ingest", SAMPLE), ("run",)):
        done = run_retail(*args, lake=root)
        assert done.code == 0, done.stderr
    return root


@pytest.mark.parametrize("retain", ["99999999999h", "20000000h", "1000000d"])
def test_a_retention_beyond_any_date_is_refused(lake: Path, retain: str) -> None:
    """Hours past the calendar's range were an OverflowError (exit 1, "internal error")."""
    before = Lake(lake).versions()
    done = run_retail("vacuum", "--retain", retain, lake=lake)
    assert done.code == 2, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert "error: --retain" in done.stderr and "at most 876,000h" in done.stderr, done.stderr
    assert Lake(lake).versions() == before

