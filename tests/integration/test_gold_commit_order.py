"""Gold's commits keep their order when they run on the committer's thread (decision 0011,
tenth round): once one fails, no later commit of that run is made, and the next run ends in
the fault-free lake.

Through the real command, with an injected ``ENOSPC`` at the first gold commit (``dim_date``,
which is committed in the background while the engine goes on computing the other
dimensions and the fact) and at the commit of a dimension the engine stages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.faults import copy_lake, differences, no_journal_left, ok, retail


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """A lake with one ingested file, the same lake after ``retail run``, and the points that
    fault-free run passes."""
    root = tmp_path_factory.mktemp("order")
    source = root / "a.csv"
    ok("generate", "--rows", "2000", "--seed", "3", "--out", source, lake=root / "x")
    base = root / "base"
    ok("ingest", source, lake=base)
    reference = copy_lake(base, root / "reference")
    trace = root / "reference.trace"
    done = retail("run", lake=reference, trace=trace)
    assert done.code == 0, done.stderr
    return base, reference, trace.read_text().split()


@pytest.mark.parametrize("table", ["gold.dim_date", "gold.dim_product"])
def test_no_commit_after_a_failed_one(
    ingested: tuple[Path, Path, list[str]], table: str, tmp_path: Path
) -> None:
    base, reference, points = ingested
    point = f"before:{table}"
    assert f"{point}@1" in points
    lake = copy_lake(base, tmp_path / "lake")
    trace = tmp_path / "faulted.trace"
    faulted = retail("run", lake=lake, fault=f"{point}:enospc", trace=trace)
    assert faulted.code == 1, faulted.stdout + faulted.stderr
    assert "No space left on device" in faulted.stderr
    passed = trace.read_text().split()
    after = passed[passed.index(f"{point}@1") + 1 :]
    assert [p for p in after if p.startswith(("before:gold.", "after:gold."))] == []
    assert not (lake / "gold" / "fact_sales" / "_delta_log").exists()
    ok("run", lake=lake)
    assert differences(reference, lake) == []
    assert no_journal_left(lake)
