"""What ``retail serve`` answers while other processes write to its lake (sixteenth round).

The snapshot reader must never publish a state no finished command left: the served tables of
one command's half (a run's new fact beside its old marts) would make the API answer totals that
the lake never held together. Real ``retail`` processes write; the reader is the one
``retail serve`` runs, refreshed as its polling thread refreshes it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.fingerprint import latest_version
from retail_lakehouse.serve.readers import SnapshotReader
from tests.conftest import hung_run
from tests.integration.faults import ok, wait_for


def test_a_run_after_an_ingest_is_not_served_half_written(tmp_path: Path) -> None:
    """``retail ingest new.csv && retail run``, the everyday pair (and what ``retail watch``
    does): the ingest moved ``meta.runs`` without changing a served table, so the snapshot kept
    its older ``meta.runs`` version; the run's first gold commits then looked like "a command
    finished" and the reader published the run's new fact beside its old marts."""
    first, later, lake = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "lake"
    ok("generate", "--rows", "800", "--seed", "1", "--out", first, lake=tmp_path / "x")
    ok("generate", "--rows", "600", "--seed", "2", "--out", later, lake=tmp_path / "x")
    ok("ingest", first, lake=lake)
    ok("run", lake=lake)
    reader = SnapshotReader(Lake(lake), poll_seconds=3600, settle_seconds=3600)
    reader.start()
    try:
        before = reader.current()
        ok("ingest", later, lake=lake)
        reader.refresh()  # the poller's turn after the ingest
        served = reader.current().versions
        fact = lake / "gold" / "fact_sales"
        writer = hung_run(lake, "before:gold.mart_daily_sales")
        try:
            wait_for(lambda: latest_version(fact) != served["gold.fact_sales"], timeout=300)
            assert reader.refresh() is False, "a run's half was served"
            now = reader.current()
            assert now.versions == served
            lines = "SELECT count(*) AS n FROM gold.fact_sales"  # beside the marts it served
            assert now.scalar_row(lines) == before.scalar_row(lines)
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
    finally:
        reader.stop()
