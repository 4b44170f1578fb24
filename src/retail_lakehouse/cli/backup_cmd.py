"""``retail backup`` and ``retail restore``: snapshot copies, checked before they come back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from retail_lakehouse.cli.context import UsageProblem, console, lake_from

if TYPE_CHECKING:
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.backup import RestoreReport


def backup(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="Backup folder (created; reused incrementally).")],
) -> None:
    """Copy the current snapshot of every table and the API key store into DEST.

    Incremental: files already in an earlier backup in DEST are not copied again. Takes no
    lock that readers or a running command wait for."""
    from retail_lakehouse.lake.backup import BackupError
    from retail_lakehouse.lake.backup import backup as run_backup

    try:
        report = run_backup(lake_from(ctx), dest)
    except BackupError as refused:
        raise UsageProblem(str(refused)) from None
    console.print(
        f"backup {report.backup_id}: {report.tables} tables, {report.files} files "
        f"({report.bytes_total:,} bytes) of the {report.pinned}; copied {report.files_copied} "
        f"new file(s) ({report.bytes_copied:,} bytes), the rest already in {dest} "
        f"({report.seconds:.2f} s)\nmanifest: {report.manifest}"
    )
    if report.scratch_removed:
        console.print(
            f"removed {report.scratch_removed} abandoned scratch file(s) of an interrupted "
            f"backup from {dest / 'objects'}"
        )


def restore(
    ctx: typer.Context,
    backup_path: Annotated[
        Path, typer.Argument(metavar="BACKUP", help="A backup folder (newest backup) or manifest.")
    ],
    lake: Annotated[
        Path | None,
        typer.Option("--lake", help="New lake folder to restore into (default: the --lake)."),
    ] = None,
) -> None:
    """Verify every checksum of a backup, then restore it into a new lake.

    A damaged or incomplete backup is refused, naming the file, and nothing is written."""
    from retail_lakehouse.lake.backup import BackupError, find_manifest
    from retail_lakehouse.lake.backup import restore as run_restore

    target = lake if lake is not None else lake_from(ctx).root
    try:
        report = run_restore(find_manifest(backup_path), target, record=_record)
    except BackupError as refused:
        raise UsageProblem(str(refused)) from None
    console.print(
        f"verified and restored backup {report.backup_id} into {report.target}: "
        f"{report.tables} tables, {report.files} files ({report.bytes_total:,} bytes) "
        f"in {report.seconds:.2f} s"
    )


def _record(lake: Lake, report: RestoreReport) -> None:
    """The restore is the new lake's first recorded run (written before the lake appears)."""
    from retail_lakehouse.lake.runs import recorded_run

    with recorded_run(lake, f"restore {report.backup_id}") as run:
        for table, rows in report.rows.items():
            run.count(table, rows_out=rows)
        run.changed = True
