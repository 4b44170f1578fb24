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
from retail_lakehouse.pipeline.bronze import FileRefused, IngestProgress, IngestReport
from retail_lakehouse.sources.formats import FormatOptions

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
    progress: Callable[[IngestProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    formats: FormatOptions | None = None,
    on_recovered: Callable[[str], None] | None = None,
) -> list[FileOutcome]:
    """Ingest ``files`` in order under one recorded ``ingest`` run (and the writer lock).

    ``sandbox`` is a long-lived reader worker (the API server and the watcher keep one);
    without it, one is started for this call under ``limits``. ``formats``: declared date
    orders and decimal separators (``[formats]`` of the settings when None, so the watcher and
    Dagster honour ``retail.toml`` as the CLI does). ``on_recovered`` hears what this command
    first completed or undid of an interrupted one (see ``lake/intents.py``)."""
    if formats is None:
        formats = settings_formats()
    with recorded_run(lake, "ingest") as run:
        if on_recovered is not None:
            for line in run.recovered:
                on_recovered(line)
        reports = bronze.ingest_files(
            lake,
            files,
            run,
            limits=limits,
            sandbox=sandbox,
            progress=progress,
            should_stop=should_stop,
            formats=formats,
        )
        refused = sum(r.refused is not None for r in reports)
        if refused:  # the CLI exits 2; recorded as a refusal when no file was taken
            run.refuse(f"{refused} of {len(reports)} file(s) refused")
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


def settings_formats() -> FormatOptions:
    """``[formats]`` of the loaded settings (``retail.toml``, ``RETAIL_*``)."""
    from retail_lakehouse.config import load_settings

    return FormatOptions.from_settings(load_settings().formats)
