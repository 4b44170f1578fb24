"""``retail sql`` and ``retail backup`` while another process's command is between its commits
(sixteenth round).

Each table is read at one committed version, but a query that reads several tables must read
them at one state of the lake: the state a finished command left, never a run's new fact beside
its old marts.
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

from retail_lakehouse.lake.fingerprint import latest_version
from tests.conftest import hung_run
from tests.integration.faults import ok, wait_for

TOTALS = (
    "SELECT (SELECT count(*) FROM gold.fact_sales) AS fact_lines, "
    "(SELECT sum(units) FROM gold.mart_daily_sales) AS mart_units, "
    "(SELECT count(*) FROM silver.sales_lines) AS silver_lines"
)


def test_a_query_or_backup_during_a_run_reads_the_state_the_last_finished_command_left(
    tmp_path: Path,
) -> None:
    first, later, lake = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "lake"
    ok("generate", "--rows", "800", "--seed", "1", "--out", first, lake=tmp_path / "x")
    ok("generate", "--rows", "600", "--seed", "2", "--out", later, lake=tmp_path / "x")
    ok("ingest", first, lake=lake)
    ok("run", lake=lake)
    ok("ingest", later, lake=lake)
    before = ok("sql", "--format", "json", TOTALS, lake=lake).json()
    fact = lake / "gold" / "fact_sales"
    version = latest_version(fact)
    writer = hung_run(lake, "before:gold.mart_daily_sales")
    try:
        wait_for(lambda: latest_version(fact) != version, timeout=300)
        during = ok("sql", "--format", "json", TOTALS, lake=lake)
        assert during.json() == before, "a run's half was read"
        assert "is writing" in during.stderr  # and the reader is told why
        # a backup meanwhile holds the same state (the rule both share), and restores to it
        backups, restored = tmp_path / "backups", tmp_path / "restored"
        assert "a command was writing" in ok("backup", backups, lake=lake).stdout
        ok("restore", backups, "--lake", restored, lake=restored)
        assert ok("sql", "--format", "json", TOTALS, lake=restored).json() == before
        # a time while the run was between its commits is the state before the run, not
        # its half: while it runs, and once it has been killed and recovered
        midway = datetime.now(UTC).isoformat()
        assert ok("sql", "--format", "json", "--as-of", midway, TOTALS, lake=lake).json() == before
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    ok("run", lake=lake)  # recovers the killed run (recorded as interrupted), then runs
    assert ok("sql", "--format", "json", "--as-of", midway, TOTALS, lake=lake).json() == before
