"""Ingesting a list of files in one recorded run: what ``retail ingest``, ``retail watch`` and
the Dagster ``bronze`` asset all call, so the three cannot differ.

Each file is read in the isolated reader worker and staged; staged files are committed in
groups (see :mod:`.bronze`). A refused file is reported and the next one goes on.
``should_stop`` is asked between files, so a watcher told to stop commits what it has staged
and leaves the rest for its next start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline import bronze
from retail_lakehouse.pipeline.bronze import FileRefused, IngestReport

if TYPE_CHECKING:
    from retail_lakehouse.sources.limits import ReaderLimits
    from retail_lakehouse.sources.sandbox import Sandbox


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file: its report, or why it was refused."""

    path: Path
    report: IngestReport | None = None
    refused: FileRefused | None = None


def ingest_files(
    lake: Lake,
    files: Sequence[Path],
    *,
    limits: ReaderLimits | None = None,
    sandbox: Sandbox | None = None,
    on_file: Callable[[int, FileOutcome], None] | None = None,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[FileOutcome]:
    """Ingest ``files`` in order under one recorded ``ingest`` run (and the writer lock).

    ``sandbox`` is a long-lived reader worker (the API server and the watcher keep one);
    without it, one is started for this call under ``limits``."""
    with recorded_run(lake, "ingest") as run:
        reports = bronze.ingest_files(
            lake,
            files,
            run,
            limits=limits,
            sandbox=sandbox,
            progress=progress,
            should_stop=should_stop,
        )
    outcomes = [
        FileOutcome(r.path, refused=r.refused)
        if r.refused is not None
        else FileOutcome(r.path, report=r)
        for r in reports
    ]
    if on_file is not None:
        for index, outcome in enumerate(outcomes, start=1):
            on_file(index, outcome)
    return outcomes
