"""Incremental gold equals a full rebuild, through the real commands.

A generated file is cut in two (in the middle of an invoice, so one invoice spans both batches):
one lake ingests part one, runs, ingests part two and runs again; another ingests both parts and
runs once. Every gold table must be identical, except lineage (``_run_id``), including the fact's
copy of silver's ``quality_score`` (rule statistics are computed per source batch, so a line
scores the same whichever run processes it). ``retail run --full-refresh`` must then reproduce
the incremental result too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.gold import GOLD_SUMMARIES, GOLD_TABLES
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import run_retail

ROWS = 60_000
BATCH_DEPENDENT = {"_run_id"}


def retail(*args: str | Path, lake: Path) -> str:
    done = run_retail(*args, lake=lake)
    assert done.code == 0, done.stderr + done.stdout
    return done.stdout


def gold_content(lake: Path) -> dict[str, list[tuple[Any, ...]]]:
    content = {}
    with LakeSQL(Lake(lake)) as con:
        for table in (*GOLD_TABLES, *GOLD_SUMMARIES):
            data = con.arrow(f"SELECT * FROM {table.qualified}")
            data = data.drop_columns([c for c in data.column_names if c in BATCH_DEPENDENT])
            content[table.qualified] = sorted(
                zip(*(c.to_pylist() for c in data.columns), strict=True), key=repr
            )
    return content


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("parts")
    whole = folder / "whole.csv"
    retail("generate", "--rows", str(ROWS), "--out", whole, lake=folder / "unused")
    header, *lines = whole.read_text().splitlines()
    cut = len(lines) // 2
    while lines[cut].split(",")[0] != lines[cut - 1].split(",")[0]:
        cut += 1  # cut inside an invoice
    first, second = folder / "part1.csv", folder / "part2.csv"
    first.write_text("\n".join([header, *lines[:cut]]) + "\n")
    second.write_text("\n".join([header, *lines[cut:]]) + "\n")
    return folder, first, second


def test_two_runs_equal_one_run_and_a_full_refresh(parts: tuple[Path, Path, Path]) -> None:
    folder, first, second = parts
    stepwise, at_once = folder / "stepwise", folder / "at_once"
    retail("ingest", first, lake=stepwise)
    retail("run", lake=stepwise)
    retail("ingest", second, lake=stepwise)
    out = retail("run", lake=stepwise)
    assert "gold: incremental run" in out
    retail("ingest", first, second, lake=at_once)
    retail("run", lake=at_once)
    incremental = gold_content(stepwise)
    assert incremental == gold_content(at_once)

    before = Lake(stepwise).versions()
    assert "gold: nothing to do" in retail("run", lake=stepwise)
    assert Lake(stepwise).versions() == before

    assert "gold: full rebuild" in retail("run", "--full-refresh", lake=stepwise)
    assert gold_content(stepwise) == incremental


def test_undated_lines_with_the_date_rule_off_equal_a_full_refresh(tmp_path: Path) -> None:
    """With ``invoice_date_present`` turned off, lines without a date reach gold: the marts
    keep them under a NULL month and day, every run's accounting check holds, and each append
    (a product renamed, undated lines only, dated lines after undated ones) equals a full
    refresh. Before the fix the split write and the month and day ranges of an update dropped
    them, and every run failed its accounting check."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: invoice_date_present\n    enabled: false\n")
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    first = tmp_path / "first.csv"
    first.write_text(
        "\n".join(
            [
                header,
                "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,"
                "United Kingdom",
                "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom",
                "536366,22633,HAND WARMER UNION JACK,6,12/2/2010 8:28,1.85,17850,United Kingdom",
                "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,,1.69,13047,United Kingdom",
            ]
        )
        + "\n"
    )
    appends = {
        "renamed": "600001,85123A,RENAMED HEART HOLDER,6,3/5/2011 10:00,2.55,17850,United Kingdom",
        "undated": "600002,71053,WHITE METAL LANTERN,6,,3.39,17850,United Kingdom",
        "dated": "600003,22633,HAND WARMER UNION JACK,6,3/6/2011 10:00,1.85,17850,United Kingdom",
    }
    lake, refreshed = tmp_path / "lake", tmp_path / "refreshed"
    retail("ingest", first, lake=lake)
    retail("run", "--rules", rules, lake=lake)
    for name, line in appends.items():
        added = tmp_path / f"{name}.csv"
        added.write_text(f"{header}\n{line}\n")
        retail("ingest", added, lake=lake)
        assert "gold: incremental run" in retail("run", "--rules", rules, lake=lake)
        incremental = gold_content(lake)
        shutil.rmtree(refreshed, ignore_errors=True)
        shutil.copytree(lake, refreshed)
        retail("run", "--rules", rules, "--full-refresh", lake=refreshed)
        assert gold_content(refreshed) == incremental, name
    with LakeSQL(Lake(lake)) as con:
        undated = con.arrow(
            "SELECT (SELECT count(*) FROM gold.mart_product_performance WHERE month IS NULL),"
            " (SELECT count(*) FROM gold.mart_daily_sales WHERE sale_date IS NULL)"
        )
    assert [c[0].as_py() for c in undated.columns] == [2, 1]
