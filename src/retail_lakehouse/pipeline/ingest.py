"""Ingesting a list of files in one recorded run: what ``retail ingest``, ``retail watch`` and
the Dagster ``bronze`` asset all call, so the three cannot differ.

Each file is its own atomic commit (see :mod:`.bronze`); a refused file is reported and the next
one goes on. ``should_stop`` is asked between files, so a watcher told to stop finishes the file
it is committing and leaves the rest for its next start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline.bronze import FileRefused, IngestReport, ingest_file
from retail_lakehouse.sources.formats import FormatOptions


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
    on_file: Callable[[int, FileOutcome], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    formats: FormatOptions | None = None,
) -> list[FileOutcome]:
    """Ingest ``files`` in order under one recorded ``ingest`` run (and the writer lock).

    ``formats``: declared date orders and decimal separators (``[formats]`` of the settings
    when None, so the watcher and Dagster honour ``retail.toml`` as the CLI does)."""
    if formats is None:
        formats = settings_formats()
    outcomes: list[FileOutcome] = []
    with recorded_run(lake, "ingest") as run:
        for index, file in enumerate(files, start=1):
            if should_stop is not None and should_stop():
                break
            try:
                outcome = FileOutcome(file, report=ingest_file(lake, file, run, formats))
            except FileRefused as refused:
                outcome = FileOutcome(file, refused=refused)
            outcomes.append(outcome)
            if on_file is not None:
                on_file(index, outcome)
    return outcomes


def settings_formats() -> FormatOptions:
    """``[formats]`` of the loaded settings (``retail.toml``, ``RETAIL_*``)."""
    from retail_lakehouse.config import load_settings

    return FormatOptions.from_settings(load_settings().formats)
