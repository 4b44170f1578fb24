"""The watcher's small parts: cron schedules, what counts as a landing file, the lock."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from retail_lakehouse.orchestrate.heartbeat import (
    Heartbeat,
    WatcherRunning,
    WatchLock,
    watcher_status,
)
from retail_lakehouse.orchestrate.landing import landing_files
from retail_lakehouse.orchestrate.watch import next_run_time, validate_schedule


def test_schedule_is_validated_and_fires_at_the_next_match() -> None:
    assert validate_schedule("0 2 * * *") == "0 2 * * *"
    for bad in ("every night", "0 2 * *", "61 2 * * *", "0 2 * * * *"):
        with pytest.raises(ValueError, match="cron"):
            validate_schedule(bad)
    local = datetime(2026, 12, 4, 1, 30).astimezone()
    following = next_run_time("0 2 * * *", local)
    assert following - local == timedelta(minutes=30)
    assert next_run_time("0 2 * * *", following) - following == timedelta(days=1)
    assert next_run_time("*/15 * * * *", datetime(2026, 1, 1, 0, 7, tzinfo=UTC)).minute % 15 == 0


def test_landing_files_skip_partial_hidden_and_own_folders(tmp_path: Path) -> None:
    names = [
        "a.csv",
        "sub/b.xlsx",
        "c.csv.part",
        "d.tmp",
        ".hidden.csv",
        "~$lock.xlsx",
        "_refused/e.csv",
        "_archive/2026-12-04/f.csv",
        "sub/_kept/g.csv",  # only top-level _folders are the watcher's own
    ]
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    found = sorted(str(p.relative_to(tmp_path)) for p, _ in landing_files(tmp_path))
    assert found == ["a.csv", "sub/_kept/g.csv", "sub/b.xlsx"]


def test_second_lock_names_the_first_and_heartbeat_reports_liveness(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    assert watcher_status(lake) is None
    first = WatchLock(lake)
    first.acquire()
    try:
        with pytest.raises(WatcherRunning, match=f"pid {os.getpid()}"):
            WatchLock(lake).acquire()
    finally:
        first.release()
    WatchLock(lake).acquire()  # free again once released

    beat = Heartbeat(lake, interval_seconds=10)
    beat.beat(state="watching", last_file="a.csv")
    status = watcher_status(lake)
    assert status is not None and status["alive"] and status["last_file"] == "a.csv"
    beat.beat(state="stopped")
    assert watcher_status(lake)["alive"] is False  # type: ignore[index]
    beat.beat(state="watching", pid=2**22 + 12345)  # a process that does not exist
    assert watcher_status(lake)["alive"] is False  # type: ignore[index]
