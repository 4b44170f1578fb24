"""A command killed mid-way left OpenLineage runs started and never ended: a consumer such as
Marquez showed them running for ever. The next writing command, which records the killed one as
``interrupted``, closes each of them with an ABORT event (fifteenth round's audit)."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from retail_lakehouse.observe.lineage.events import events_in
from tests.conftest import REAL_DATA, RETAIL, run_retail
from tests.integration.observe.openlineage_spec import event_errors

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SAMPLE = REAL_DATA / "online_retail_ii_head_99_bom.csv"
ENDS = ("COMPLETE", "FAIL", "ABORT")


def test_a_killed_run_s_open_lineage_runs_are_aborted_by_the_next_command(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    done = run_retail("ingest", SAMPLE, lake=lake)
    assert done.code == 0, done.stderr
    killed = subprocess.run(
        [RETAIL, "--lake", str(lake), "run"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "RETAIL_FAULT": "after:gold.fact_sales:kill"},
    )
    assert killed.returncode == -9, killed.stderr
    events = events_in(lake / "_lineage")
    open_runs = {e["run"]["runId"] for e in events if e["eventType"] == "START"} - {
        e["run"]["runId"] for e in events if e["eventType"] in ENDS
    }
    assert len(open_runs) == 1  # the command's own: layers and tables are emitted when done

    again = run_retail("run", lake=lake)
    assert again.code == 0, again.stderr
    events = events_in(lake / "_lineage")
    ends = Counter(e["run"]["runId"] for e in events if e["eventType"] in ENDS)
    starts = {e["run"]["runId"] for e in events if e["eventType"] == "START"}
    assert {run: ends[run] for run in starts} == dict.fromkeys(starts, 1)  # each ended once
    aborted = [e for e in events if e["eventType"] == "ABORT"]
    assert {e["run"]["runId"] for e in aborted} == open_runs
    assert [e["job"]["name"] for e in aborted] == ["retail.run"]
    for event in aborted:
        assert event_errors(event) == [], event["job"]["name"]
    assert "interrupted" in aborted[0]["run"]["facets"]["errorMessage"]["message"]
