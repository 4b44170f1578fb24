"""Appends keep gold's per-customer summaries and its month files equal to a rebuild (0020).

Through the real commands: a generated file, then two 1% appends dated after it (the
benchmark's appends), each run incrementally: RFM and cohorts come from ``gold.customer_summary``
and ``gold.customer_months``, updated from the new fact rows, ``dim_product``'s median from
``gold.product_prices``, and ``mart_product_performance``
rewrites only the months from the first one an append touched. After every step the gold
tables, summaries included, must equal what ``retail run --full-refresh`` builds from the same
bronze: after the appends (one of them killed after the summaries' commits and run again),
after retracting one, and after a rollback and a re-ingest.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from retail_lakehouse.benchmark.processes import make_append
from retail_lakehouse.lake import Lake
from tests.conftest import run_retail
from tests.integration.gold_rows import gold_rows

ROWS = 10_000


def retail(*args: str | Path, lake: Path) -> str:
    done = run_retail(*args, lake=lake)
    assert done.code == 0, done.stderr + done.stdout
    return done.stdout


def content(lake: Path) -> dict[str, list[tuple[Any, ...]]]:
    return gold_rows(Lake(lake))


def rebuilt(lake: Path, tmp: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The same lake's gold after ``retail run --full-refresh`` (on a copy)."""
    import shutil

    copy = tmp / f"copy-{len(list(tmp.iterdir()))}"
    shutil.copytree(lake, copy)
    retail("run", "--full-refresh", lake=copy)
    return content(copy)


def run_retail_with(lake: Path, **env: str) -> Any:
    """``retail run`` with extra environment variables (a fault point)."""
    import os

    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        return run_retail("run", lake=lake)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def written(out: str, table: str) -> int:
    match = re.search(rf"{re.escape(table)}\s*\S\s*([\d,]+)", out)
    assert match, out
    return int(match.group(1).replace(",", ""))


def test_appends_retraction_and_rollback_keep_gold_equal_to_a_rebuild(tmp_path: Path) -> None:
    source, first, second = tmp_path / "sales.csv", tmp_path / "a1.csv", tmp_path / "a2.csv"
    retail("generate", "--rows", str(ROWS), "--out", source, lake=tmp_path / "unused")
    make_append(source, first, ROWS // 100, 0)
    make_append(source, second, ROWS // 100, 5)  # six weeks after the file: a new month
    lake, copies = tmp_path / "lake", tmp_path / "copies"
    copies.mkdir()
    retail("ingest", source, lake=lake)
    retail("run", lake=lake)

    retail("ingest", first, lake=lake)
    out = retail("run", lake=lake)
    assert "gold: incremental run" in out
    after_first = content(lake)
    assert after_first == rebuilt(lake, copies)
    runs = Lake(lake).delta("meta.runs")
    assert runs is not None
    last_run = max(runs.to_pyarrow_table().to_pylist(), key=lambda r: r["started_at"])["run_id"]
    summary = after_first["gold.customer_summary"]
    assert summary and len(summary) < ROWS // 2  # one row per customer, not per line

    retail("ingest", second, lake=lake)
    # killed after the summaries' commits, before the watermark: the next run redoes the same
    # batches, which must not add their rows to the summaries twice (the price counts first:
    # the redo replaces the batches it committed, as the fact's commit does), nor its new
    # month pairs to the cohort mart twice (its last commit, which an append adds to)
    for table in ("gold.product_prices", "gold.customer_months", "gold.mart_cohort_retention"):
        killed = run_retail_with(lake, RETAIL_FAULT=f"after:{table}:kill")
        assert killed.code != 0
    out = retail("run", lake=lake)
    months = after_first["gold.mart_product_performance"]
    assert 0 < written(out, "gold.mart_product_performance") < len(months)  # the new month only
    assert content(lake) == rebuilt(lake, copies)

    retail("retract", second.name, lake=lake)  # its customers' new month goes
    retail("run", lake=lake)
    assert content(lake) == rebuilt(lake, copies)

    retail("rollback", "--to-run", last_run, "--yes", lake=lake)
    assert content(lake) == after_first
    retail("ingest", second, lake=lake)
    retail("run", lake=lake)
    assert content(lake) == rebuilt(lake, copies)


def test_a_rollback_to_before_the_price_table_existed_counts_it_again(tmp_path: Path) -> None:
    """A lake from before ``gold.product_prices`` (modelled by removing the table: the earlier
    release never wrote it) gets the table counted from every silver line by its first run on
    this version. A rollback to a run from before that empties the table, as it does every
    table that did not exist then, while gold's watermark goes back to that run's: the next
    run must count the prices again, not take ``dim_product``'s median of the new lines alone
    (the accounting identity cannot see a wrong median)."""
    import shutil

    source, first, second = tmp_path / "sales.csv", tmp_path / "a1.csv", tmp_path / "a2.csv"
    retail("generate", "--rows", "3000", "--out", source, lake=tmp_path / "unused")
    make_append(source, first, 300, 0)
    make_append(source, second, 300, 1)
    lake, copies = tmp_path / "lake", tmp_path / "copies"
    copies.mkdir()
    retail("ingest", source, lake=lake)
    retail("run", lake=lake)
    shutil.rmtree(lake / "gold" / "product_prices")  # the lake as the earlier release left it
    runs = Lake(lake).delta("meta.runs")
    assert runs is not None
    before = max(runs.to_pyarrow_table().to_pylist(), key=lambda r: r["started_at"])["run_id"]
    retail("ingest", first, lake=lake)
    retail("run", lake=lake)  # the table counted from every silver line

    retail("rollback", "--to-run", before, "--yes", lake=lake)
    retail("ingest", second, lake=lake)
    retail("run", lake=lake)
    now, expected = content(lake), rebuilt(lake, copies)
    assert now["gold.dim_product"] == expected["gold.dim_product"]
    assert now == expected


def test_a_run_killed_between_dim_product_and_the_product_mart_is_redone_exactly(
    tmp_path: Path,
) -> None:
    """An append that renames products, killed after ``dim_product``'s commit and before
    ``mart_product_performance``'s: the redo compares the products with a dimension that already
    has the new names, so it must not take the earlier months' names in the mart as current."""
    import csv

    source, renamed = tmp_path / "sales.csv", tmp_path / "renamed.csv"
    retail("generate", "--rows", "3000", "--out", source, lake=tmp_path / "unused")
    appended = tmp_path / "a1.csv"
    make_append(source, appended, 300, 0)
    with appended.open(newline="") as old, renamed.open("w", newline="") as new:
        rows = csv.DictReader(old)
        out = csv.DictWriter(new, fieldnames=list(rows.fieldnames or []))
        out.writeheader()
        for row in rows:
            out.writerow({**row, "Description": f"{row['Description']} (NEW)"})
    lake, copies = tmp_path / "lake", tmp_path / "copies"
    copies.mkdir()
    retail("ingest", source, lake=lake)
    retail("run", lake=lake)
    retail("ingest", renamed, lake=lake)
    killed = run_retail_with(lake, RETAIL_FAULT="after:gold.dim_product:kill")
    assert killed.code != 0
    retail("run", lake=lake)
    now, expected = content(lake), rebuilt(lake, copies)
    assert now["gold.mart_product_performance"] == expected["gold.mart_product_performance"]
    assert now == expected
