"""The run's accounting check adds up per-file figures it remembers (decision 0020, ninth round):
the same figures as the query over every row, and a lake broken after a check is still caught.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from retail_lakehouse.benchmark.processes import make_append
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.location import data_files
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.pipeline.accounting import (
    SUMS_FILE,
    TABLES,
    AccountingBroken,
    accounting,
    check_accounting,
)
from tests.conftest import run_retail


def ok(*args: str | Path, lake: Path) -> None:
    done = run_retail(*args, lake=lake)
    assert done.code == 0, done.stderr + done.stdout


def every_row(lake: Lake) -> dict[str, object]:
    with LakeSQL(lake, tables=TABLES) as sql:
        return accounting(sql)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    source, appended = tmp_path / "sales.csv", tmp_path / "a1.csv"
    ok("generate", "--rows", "3000", "--out", source, lake=tmp_path / "unused")
    make_append(source, appended, 30, 0)
    root = tmp_path / "lake"
    ok("ingest", source, lake=root)
    ok("run", lake=root)
    ok("ingest", appended, lake=root)
    ok("run", lake=root)
    return Lake(root)


def test_remembered_file_figures_equal_the_query_over_every_row(lake: Lake) -> None:
    record = json.loads((lake.root / SUMS_FILE).read_text(encoding="utf-8"))
    fact = lake.delta("gold.fact_sales")
    assert fact is not None and len(data_files(fact)) >= 2  # the append's file is its own
    assert len(record) >= len(data_files(fact))
    assert check_accounting(lake) == every_row(lake)
    (lake.root / SUMS_FILE).write_text("not json", encoding="utf-8")  # a damaged record
    assert check_accounting(lake) == every_row(lake)
    damaged = {key: {name: "abc" for name in figures} for key, figures in record.items()}
    (lake.root / SUMS_FILE).write_text(json.dumps(damaged), encoding="utf-8")
    assert check_accounting(lake) == every_row(lake)


def test_a_fact_file_rewritten_in_place_after_a_check_is_summed_again(lake: Lake) -> None:
    check_accounting(lake)  # every file remembered
    fact = lake.delta("gold.fact_sales")
    assert fact is not None
    file = max(data_files(fact), key=os.path.getsize)
    before = os.stat(file)
    rows = pq.read_table(file)
    pq.write_table(rows.slice(1), file)  # a line lost in place
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))  # even with the old time
    assert os.path.getsize(file) != before.st_size
    with pytest.raises(AccountingBroken, match="fact rows = silver lines"):
        check_accounting(lake)
    assert not every_row(lake)["balanced"]
    pq.write_table(rows, file)  # the rows back, at a new time: balanced again
    assert check_accounting(lake) == every_row(lake)


def test_a_figure_no_decimal_sum_can_hold_is_a_damaged_record(lake: Lake) -> None:
    """A hand-edited figure that is finite decimal text but out of any DECIMAL(38) range is
    ignored like any damaged one (it made the sum raise ``decimal.Overflow``: every later run
    with changes failed as an internal error, the record never rewritten)."""
    check_accounting(lake)
    record = json.loads((lake.root / SUMS_FILE).read_text(encoding="utf-8"))
    for huge in ("1E+1000000", "9" * 100):
        edited = {key: dict(figures) for key, figures in record.items()}
        key = next(key for key, figures in edited.items() if "fact_gross" in figures)
        edited[key]["fact_gross"] = huge
        (lake.root / SUMS_FILE).write_text(json.dumps(edited), encoding="utf-8")
        assert check_accounting(lake) == every_row(lake), huge


def test_a_killed_runs_scratch_record_is_replaced_not_left_behind(lake: Lake) -> None:
    """A run killed between writing the record's temporary file and renaming it leaves that
    file; the next check writes over it and renames it, so none piles up at the lake root."""
    scratch = lake.root / f".{SUMS_FILE}.tmp"
    scratch.write_text("half a record", encoding="utf-8")
    (lake.root / SUMS_FILE).unlink()  # the next check has a record to write
    assert check_accounting(lake) == every_row(lake)
    assert not scratch.exists()
    assert [p.name for p in lake.root.glob(f".{SUMS_FILE}*")] == []
    assert json.loads((lake.root / SUMS_FILE).read_text(encoding="utf-8"))


def test_line_counts_of_a_file_holding_batches_on_both_sides_of_a_watermark(
    lake: Lake, tmp_path: Path
) -> None:
    """The head's line counts come from per-file figures too (decision 0020, sixteenth round):
    a file's lines above silver's watermark (pending) or up to gold's are its whole count when
    its batch range lies on one side. A compacted bronze file holding processed batches and
    a pending one straddles silver's watermark: counted by a query, the same as over every
    row; so is a lake with the pending batch in a file of its own."""
    later = tmp_path / "a2.csv"
    make_append(tmp_path / "sales.csv", later, 40, 1)
    ok("ingest", later, lake=lake.root)  # a pending batch: silver has not seen it
    pending = check_accounting(lake)
    assert pending == every_row(lake)
    assert pending["pending"] == 40 and pending["balanced"]
    ok("optimize", lake=lake.root)
    bronze = lake.delta("bronze.sales_lines")
    assert bronze is not None and len(data_files(bronze)) == 1  # batches 1-3 in one file
    compacted = check_accounting(lake)
    assert compacted == every_row(lake) == pending
    ok("run", lake=lake.root)
    assert check_accounting(lake) == every_row(lake)
    assert every_row(lake)["pending"] == 0
