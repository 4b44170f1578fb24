"""``retail ingest --cdc`` killed once its events are in ``bronze.cdc_events``: before its
silver commits, or between them (``silver.cdc_history`` in, ``silver.cdc_lines`` not). The next
command alone brings silver (and through the group batches, gold) to the state of an
uninterrupted lake, and a retry of the same file changes nothing more."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RETAIL
from tests.integration.cdc.test_cdc_cli import (
    expected,
    ingest,
    silver,
    two_parts,
)
from tests.integration.cdc.test_cdc_gold import retail
from tests.integration.stream.test_stream_cli import gold_content


@pytest.mark.parametrize(
    "point",
    ["after:silver.cdc_history", pytest.param("after:bronze.cdc_events", marks=pytest.mark.soak)],
)
def test_a_kill_after_the_events_are_recorded_is_completed_by_the_next_command(
    point: str, tmp_path: Path
) -> None:
    events, first, later = two_parts(tmp_path, 60, seed=11)
    clean = tmp_path / "clean"
    ingest(clean, first)
    ingest(clean, later)
    retail("run", lake=clean)

    lake = tmp_path / "killed"
    ingest(lake, first)
    killed = subprocess.run(
        [RETAIL, "--lake", str(lake), "ingest", "--cdc", later],
        env={**os.environ, "RETAIL_FAULT": f"{point}:kill"},
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = retail("run", lake=lake)  # recovers the interrupted ingest first, then runs
    assert "recovered interrupted ingest --cdc" in done, done
    assert "recorded change event(s) applied to silver again" in done, done
    assert silver(lake) == expected(events)  # no retry needed
    assert gold_content(lake) == gold_content(clean)

    again = ingest(lake, later)  # the user retries anyway: every event is a duplicate now
    assert " 0 applied" in again, again
    assert "bronze already holds the current state" in again, again  # gold has nothing to redo
    assert silver(lake) == expected(events)
