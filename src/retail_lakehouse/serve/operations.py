"""The lake-changing work behind the admin endpoints, as plain functions for the job queue.

They call the same pipeline functions as ``retail ingest`` and ``retail run``, under the same
writer lock and run recording, so a run started through the API is indistinguishable in the
lake from one started at the command line.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from retail_lakehouse.config import Settings
from retail_lakehouse.lake import Lake


def as_detail(report: Any) -> dict[str, Any]:
    """A JSON-safe dictionary of whatever report a pipeline function returned."""
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        raw: Any = dataclasses.asdict(report)
    elif hasattr(report, "as_dict"):
        raw = report.as_dict()
    elif isinstance(report, dict):
        raw = report
    else:
        raw = {"summary": str(report)}
    loaded: dict[str, Any] = json.loads(json.dumps(raw, default=str))
    return loaded


_SANDBOXES: dict[Any, Any] = {}


def _sandbox(settings: Settings | None) -> Any:
    """The server's reader worker: one for the life of the server, restarted only when a file
    kills it (jobs run one at a time, so it is never shared by two at once)."""
    from retail_lakehouse.sources.sandbox import Sandbox

    limits = settings.limits.reader_limits() if settings is not None else None
    if limits not in _SANDBOXES:
        _SANDBOXES[limits] = Sandbox(limits)
    return _SANDBOXES[limits]


def close_sandboxes() -> None:
    """Stop the reader workers (server shutdown)."""
    while _SANDBOXES:
        _SANDBOXES.popitem()[1].close()


def upload_formats(settings: Settings, date_order: str | None, decimal: str | None) -> Any:
    """What an upload declared (query parameters) over ``[formats]`` of the settings, as
    ``retail ingest --date-order/--decimal`` does."""
    from retail_lakehouse.sources.formats import Declared, FormatOptions

    origin = " ".join(
        f"{name}={value}"
        for name, value in (("date_order", date_order), ("decimal", decimal))
        if value
    )
    given = Declared(date_order, decimal, origin=origin)  # type: ignore[arg-type]
    return FormatOptions.from_settings(settings.formats, given)


def ingest_upload(
    lake: Lake, path: Path, settings: Settings | None = None, formats: Any = None
) -> dict[str, Any]:
    """Ingest one uploaded file into bronze (as ``retail ingest`` would).

    The file is read in a reader worker process with the [limits] memory and time budget: a
    hostile upload can crash or exhaust that worker, never the server. A refused file is
    removed from landing/: left there, every later ``retail ingest landing/`` would refuse it
    again. So is a duplicate (content already in bronze, skipped): it would only pile up, and
    the detail says so (``removed_from_landing``)."""
    from retail_lakehouse.lake.runs import recorded_run
    from retail_lakehouse.pipeline.bronze import FileRefused
    from retail_lakehouse.pipeline.bronze import ingest_file as bronze_ingest

    refusal: FileRefused | None = None
    with recorded_run(lake, "ingest") as run:
        try:
            report = bronze_ingest(lake, path, run, sandbox=_sandbox(settings), formats=formats)
        except FileRefused as refused:  # refused while read: nothing was written
            refusal = refused
            run.refuse(str(refused))
    if refusal is not None:
        path.unlink(missing_ok=True)
        raise refusal
    detail = as_detail(report)
    detail.setdefault("run_id", run.run_id)
    detail["path"] = path.name  # the client's file by its name, not the server's folders
    detail["removed_from_landing"] = False
    if detail.get("status") == "skipped":
        path.unlink(missing_ok=True)
        detail["removed_from_landing"] = True
        note = detail.get("note") or "same content already ingested"
        detail["note"] = f"{note}; the duplicate upload was removed from landing/"
    return detail


def run_pipeline(lake: Lake, settings: Settings, full_refresh: bool) -> dict[str, Any]:
    """Move pending bronze batches through silver and gold (as ``retail run`` would)."""
    from retail_lakehouse.pipeline.runner import run_pipeline as runner

    report = runner(
        lake,
        settings,
        full_refresh=full_refresh,
        engine_name=settings.engine,
    )
    return as_detail(report)
