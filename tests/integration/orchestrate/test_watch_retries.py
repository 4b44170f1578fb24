"""Retries of a failed run, in process: the real watcher and pipeline, with a run that fails
the way a full disk or a busy lake does (an OSError) before it succeeds."""

from __future__ import annotations

import itertools
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from retail_lakehouse.config import AlertSettings, ChannelSettings, Settings, WatchSettings
from retail_lakehouse.lake import Lake
from retail_lakehouse.observe.alerts import AlertBook
from retail_lakehouse.orchestrate.watch import Watcher, WatchOptions
from retail_lakehouse.pipeline import runner
from tests.conftest import REAL_DATA
from tests.integration.orchestrate.receivers import http_receiver


def flaky(failures: int, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make the next ``failures`` runs raise OSError, then run the real pipeline."""
    import time

    real = runner.run_pipeline
    calls: list[float] = []

    def run_pipeline(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        if len(calls) <= failures:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_pipeline", run_pipeline)
    return calls


@pytest.mark.parametrize(("failures", "succeeds"), [(2, True), (3, False)])
def test_failed_runs_are_retried_with_backoff_then_alerted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int, succeeds: bool
) -> None:
    calls = flaky(failures, monkeypatch)
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(REAL_DATA / "online_retail_ii_head_99_bom.csv", landing)
    with http_receiver() as http:
        settings = Settings(
            lake=tmp_path / "lake",
            landing=landing,
            watch=WatchSettings(retry_attempts=3, retry_backoff_seconds=0.2, settle_seconds=0),
            alerts=AlertSettings(
                channels={"hook": ChannelSettings(type="webhook", url=f"{http.url}/hook")}
            ),
        )
        lake = Lake(settings.lake)
        watcher = Watcher(
            lake, settings, WatchOptions.from_settings(settings, once=True), say=print
        )
        code = watcher.run()

    assert len(calls) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # 0.2 s, then doubled
    kinds = [body["kind"] for body in http.bodies("/hook")]
    if succeeds:
        assert code == 0 and kinds == []
        assert lake.read("gold.fact_sales").num_rows > 0
    else:
        assert code == 1 and kinds == ["run_failed"]
        [alert] = AlertBook(lake, settings).all()
        assert "after 3 attempt(s)" in alert.message and "No space left" in alert.message
        assert not lake.exists("silver.sales_lines")


def test_a_run_due_while_another_command_holds_the_lake_waits_for_it_not_given_up(
    tmp_path: Path,
) -> None:
    """``retail watch`` ingests a file; before its run is due, another command (a
    ``retail publish``, ``optimize`` or ``rollback`` by hand) takes the writer lock for longer
    than the watcher's attempts last. A busy lake is "try later", as for its files: the run must
    happen once the lake is free, not be counted as failed, alerted as ``run_failed`` and
    dropped, leaving the file's lines in bronze until some other file arrives (sixteenth
    round)."""
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(REAL_DATA / "online_retail_ii_head_99_bom.csv", landing)
    settings = Settings(
        lake=tmp_path / "lake",
        landing=landing,
        watch=WatchSettings(
            retry_attempts=2, retry_backoff_seconds=0.2, settle_seconds=0, quiet_seconds=0.2
        ),
    )
    lake = Lake(settings.lake, writer_wait=0.2)
    held, release, said = threading.Event(), threading.Event(), []

    def other_command() -> None:  # another process's command, through the same lock
        with Lake(settings.lake).writer_lock("publish"):
            held.set()
            release.wait(10)

    def say(message: str) -> None:
        said.append(message)
        if message.startswith("ingested") and not held.is_set():
            threading.Thread(target=other_command, daemon=True).start()
            assert held.wait(10)
            threading.Timer(2.0, release.set).start()  # the other command ends in 2 s
        if message.startswith("run ") and "finished" in message:
            watcher.request_stop()

    watcher = Watcher(lake, settings, WatchOptions.from_settings(settings), say=say)
    threading.Timer(15.0, watcher.request_stop).start()  # a bound, whatever happens
    assert watcher.run() == 0, said
    assert lake.exists("silver.sales_lines") and lake.read("silver.sales_lines").num_rows > 0
    assert AlertBook(lake, settings).all() == []
    assert not watcher.run_failed
