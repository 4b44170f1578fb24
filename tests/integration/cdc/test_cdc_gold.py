"""Gold follows change data capture, from the user's side: a change log applied in two parts
(the second shuffled and partly duplicated, and its ingest killed by SIGKILL between the new
group batches and the retraction of the old ones) with a ``retail run`` after each, gives the
silver state of an independent replay and the same gold as a lake built from a file of the final
state: every gold table equal (lineage columns and the per-batch quality score aside, see
decision 0018), revenue to the cent."""

from __future__ import annotations

import csv
import os
import random
import re
import signal
import subprocess
from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.query import LakeSQL
from tests.conftest import RETAIL, run_retail
from tests.integration.cdc.test_cdc_cli import (
    change_log,
    expected,
    ingest,
    silver,
    two_parts,
    write,
)
from tests.integration.stream.test_stream_cli import gold_content

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
          "CustomerID", "Country"]  # fmt: skip


def retail(*args: str | Path, lake: Path) -> str:
    done = run_retail(*args, lake=lake)
    assert done.code == 0, done.stderr + done.stdout
    return done.stdout


def revenue(lake: Path) -> dict[str, object]:
    with LakeSQL(Lake(lake)) as sql:
        rows = sql.arrow(
            "SELECT round(sum(line_amount), 2) AS total, count(*) AS n FROM gold.fact_sales"
        ).to_pylist()
    return dict(rows[0])


def test_a_change_log_reaches_gold_incrementally_and_equals_the_final_state_as_a_file(
    tmp_path: Path,
) -> None:
    events = change_log(200, seed=5)
    half = len(events) // 2
    rng = random.Random(2)
    later = events[half:] + rng.sample(events[half:], half // 5)
    rng.shuffle(later)
    lake = tmp_path / "cdc"

    out = ingest(lake, write(tmp_path / "first.ndjson", events[:half]))
    assert "group batch(es) written" in out
    retail("run", lake=lake)
    before = revenue(lake)

    killed = subprocess.run(
        [RETAIL, "--lake", str(lake), "ingest", "--cdc", write(tmp_path / "later.ndjson", later)],
        env={**os.environ, "RETAIL_FAULT": "after:bronze.files:kill"},
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL  # new group batches in, old ones not retracted
    done = retail("run", lake=lake)  # recovers first (recover_cdc), then runs incrementally
    assert "recovered interrupted ingest --cdc" in done, done
    with LakeSQL(Lake(lake)) as sql:  # one live batch per group: the doubled ones retracted
        groups = sql.arrow(
            "SELECT _source_file, count(*) AS n FROM bronze.files GROUP BY ALL HAVING n > 1"
        )
    assert groups.num_rows == 0
    assert "full refresh" not in done.lower()
    assert silver(lake) == expected(events)
    assert revenue(lake) != before  # the corrections reached the fact

    current, _ = expected(events)
    live = [row[4:] for row in current if not row[3]]
    assert 100 < len(live) < len(current)  # deletes are in the mix
    final = tmp_path / "final_state.csv"
    with final.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(live)
    as_file = tmp_path / "as_file"
    retail("ingest", final, lake=as_file)
    retail("run", lake=as_file)

    assert revenue(lake) == revenue(as_file)
    assert gold_content(lake) == gold_content(as_file)
    status = run_retail("status", "--json", lake=lake)
    assert status.code == 0, status.stderr
    assert status.json()["accounting"]["balanced"] is True


@pytest.mark.soak
def test_a_kill_at_every_commit_boundary_of_a_cdc_ingest_is_completed_by_the_next_run(
    tmp_path: Path,
) -> None:
    """``retail ingest --cdc`` killed at each of its commit boundaries in turn (the points a
    fault-free run passes, ``RETAIL_FAULT_POINTS`` a regex to take a subset): ``retail run``
    recovers it: once its events are in ``bronze.cdc_events``, silver equals the independent
    replay and gold an uninterrupted lake's with no retry; the same ingest again (the user's
    retry) changes nothing more."""
    events, first, later = two_parts(tmp_path, 120, seed=9)
    clean = tmp_path / "clean"
    ingest(clean, first)
    trace = tmp_path / "trace"
    traced = subprocess.run(
        [RETAIL, "--lake", str(clean), "ingest", "--cdc", later],
        env={**os.environ, "RETAIL_FAULT_TRACE": str(trace)},
        capture_output=True,
        check=False,
    )
    assert traced.returncode == 0, traced.stderr
    retail("run", lake=clean)
    only = re.compile(os.environ.get("RETAIL_FAULT_POINTS", ""))
    points = [p for p in dict.fromkeys(trace.read_text().split()) if only.search(p)]
    assert points, f"no fault point matches RETAIL_FAULT_POINTS={only.pattern!r}"
    assert only.pattern or any(p.startswith("after:bronze.files") for p in points)
    for i, point in enumerate(points):
        lake = tmp_path / f"lake{i}"
        ingest(lake, first)
        killed = subprocess.run(
            [RETAIL, "--lake", str(lake), "ingest", "--cdc", later],
            env={**os.environ, "RETAIL_FAULT": f"{point}:kill"},
            capture_output=True,
            check=False,
        )
        assert killed.returncode == -signal.SIGKILL, point
        retail("run", lake=lake)  # recovers the interrupted ingest first
        if not point.startswith("before:bronze.cdc_events"):  # events recorded: no retry needed
            assert silver(lake) == expected(events), point
            assert gold_content(lake) == gold_content(clean), point
        ingest(lake, later)  # the user retries: whatever was recorded is a duplicate now
        retail("run", lake=lake)
        assert silver(lake) == expected(events), point
        assert gold_content(lake) == gold_content(clean), point
