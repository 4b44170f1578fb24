"""``retail ingest``: files or folders into bronze (isolated reader, grouped commits)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from retail_lakehouse.cli.context import (
    ONE_COMMAND,
    UsageProblem,
    console,
    err_console,
    freeze_loaded_objects,
    lake_from,
    pyarrow_without_numpy,
    state_from,
)
from retail_lakehouse.cli.progress import StderrProgress, progress_bar

if TYPE_CHECKING:
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.sources.formats import FormatOptions
    from retail_lakehouse.sources.limits import ReaderLimits
    from retail_lakehouse.sources.sandbox import Sandbox


class DateOrderChoice(str, Enum):
    mdy = "mdy"
    dmy = "dmy"
    ymd = "ymd"


class DecimalChoice(str, Enum):
    point = "."
    comma = ","


def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Files or folders (csv, tsv, txt, xlsx/xls, json, ndjson, jsonl, parquet; "
            "the text formats also as .gz, .bz2 or .xz)."
        ),
    ] = None,
    cdc: Annotated[
        Path | None,
        typer.Option(
            "--cdc",
            metavar="FILE",
            help="A change log (NDJSON of Debezium envelopes keyed by line_id): applied to "
            "silver.cdc_lines in source order, history in silver.cdc_history.",
        ),
    ] = None,
    replaces: Annotated[
        str | None,
        typer.Option(
            "--replaces",
            metavar="OLD_NAME",
            help="A corrected file: ingest it and retract the file OLD_NAME it replaces.",
        ),
    ] = None,
    date_order: Annotated[
        DateOrderChoice | None,
        typer.Option(
            "--date-order",
            help="How the files write dates: mdy (12/1/2010 is 1 December), dmy (1/12/2010 "
            "is 1 December) or ymd. Default: detected per file (per sheet of a workbook) from "
            "a date that reads only one way, else [formats] default_date_order (mdy), "
            "recorded as assumed.",
        ),
    ] = None,
    decimal: Annotated[
        DecimalChoice | None,
        typer.Option(
            "--decimal",
            help="Decimal separator of the prices and quantities: . or , (default: detected "
            "per file and sheet, the quantities on their own column).",
        ),
    ] = None,
) -> None:
    """Append source files to bronze.sales_lines; files already ingested are skipped.

    Each file is read in a separate reader process under the [limits] of retail.toml; a file
    that is refused (past a limit, unreadable, or crashing its reader) is listed with the
    reason, the others are ingested, and the command exits 2. Compressed text files
    (.csv.gz, .jsonl.bz2, .tsv.xz...) are read as the file inside; the manifest records them as
    given. A file whose name an earlier batch had, with other content, is ingested with a note
    naming that batch (use --replaces for a corrected file). On a terminal a bar shows the
    files done, lines, skips and refusals; otherwise a command still going after
    progress_seconds (10; RETAIL_PROGRESS_SECONDS) writes them as lines on stderr. Past 1,000
    files the summary is tab-separated lines."""
    from retail_lakehouse.sources.sandbox import Sandbox

    limits = state_from(ctx).settings.limits.reader_limits()
    # The reader worker starts first, so its start-up overlaps this process's own (decision
    # 0011, third round); a command that reads nothing closes it without waiting for it.
    with Sandbox(limits) as box:
        if (cdc is not None or paths) and replaces is None:
            # In the console script's own process, a fork made here, before this process
            # loads pyarrow, DuckDB or the lake (decision 0021, tenth round). A change log is
            # read there too, under the same limits (decision 0018, addendum).
            box.launch(fork=bool(ONE_COMMAND))
        if cdc is None:  # (the change-log apply path was never measured without NumPy)
            pyarrow_without_numpy(compute=False)
        freeze_loaded_objects()
        lake = lake_from(ctx)
        with _no_lake_left_by_a_refusal(lake):
            _ingest_into(lake, ctx, box, paths or [], cdc, replaces, date_order, decimal)


def _ingest_into(
    lake: Lake,
    ctx: typer.Context,
    box: Sandbox,
    paths: list[Path],
    cdc: Path | None,
    replaces: str | None,
    date_order: DateOrderChoice | None,
    decimal: DecimalChoice | None,
) -> None:
    from retail_lakehouse.pipeline.bronze import FileRefused, IngestProgress, discover
    from retail_lakehouse.pipeline.ingest import FileOutcome, ingest_files

    if cdc is not None:
        _ingest_changes(lake, cdc, box)
        return
    limits = box.limits
    formats = _format_options(ctx, date_order, decimal)
    say = StderrProgress("ingest", state_from(ctx).settings.progress_seconds)
    try:
        files = discover(paths, lake.root, lambda n: say(lambda: f"listing: {n:,} files found"))
    except FileRefused as refused:
        raise UsageProblem(str(refused)) from None
    if not files:
        from retail_lakehouse.sources.readers import SUPPORTED_TEXT

        raise UsageProblem(f"no ingestible files found ({SUPPORTED_TEXT})")
    if replaces is not None:
        _ingest_replacing(lake, replaces, files, formats, limits)
        return
    rows: list[tuple[str, str, str, str, str]] = []
    refusals: list[str] = []
    warnings: list[str] = []

    def warn(line: str) -> None:  # what an interrupted command left, completed or undone
        console.print(f"[yellow]{escape(line)}[/]", highlight=False)

    def show(index: int, outcome: FileOutcome) -> None:
        if outcome.refused is not None:
            refusals.append(str(outcome.refused))  # the reason: once, in the error at the end
            rows.append((str(outcome.path), "refused", "", "", "reason below"))
        elif outcome.report is not None:
            report = outcome.report
            rows.append(
                (
                    str(outcome.path),
                    report.status,
                    f"{report.rows_ingested:,}",
                    f"{report.rows_rejected:,}",
                    report.note,
                )
            )
            warnings.extend(report.warnings)

    with progress_bar("ingesting", total=len(files)) as bar:
        so_far = IngestProgress(len(files))

        def done(tally: IngestProgress) -> None:
            nonlocal so_far
            so_far = tally
            if console.is_terminal:  # the bar says what the lines would (stdout is the bar's)
                bar(tally.done, tally.counts())
            else:
                say(tally.describe)

        try:
            ingest_files(
                lake,
                files,
                sandbox=box,
                on_file=show,
                progress=done,
                formats=formats,
                on_recovered=warn,
            )
        except BaseException:  # a full disk, Ctrl-C: the refusals so far would go unsaid
            for refusal in so_far.refusals:
                err_console.print(f"refused: {escape(str(refusal))}", highlight=False)
            raise
    _summary(rows)
    for warning in warnings:
        console.print(f"[yellow]note:[/] {escape(warning)}", highlight=False)
    if refusals:
        raise UsageProblem(
            f"{len(refusals)} of {len(files)} file(s) refused:\n  " + "\n  ".join(refusals)
        )


@contextmanager
def _no_lake_left_by_a_refusal(lake: Lake) -> Iterator[None]:
    """Remove the folder this command created for a lake when it ends in a refusal and took
    no file: a mistyped ``--lake`` with a refused file would otherwise leave a folder that
    later commands read as an empty lake instead of saying there is no lake there. Only a
    folder whose one table is the refused command's own run record is removed (an ingest that
    took a file, or a change log applied, made other tables: the lake is kept)."""
    new_lake = not lake.root.exists()
    try:
        yield
    except UsageProblem:
        if new_lake and lake.root.is_dir() and set(lake.tables()) <= {"meta.runs"}:
            import shutil
            import tempfile

            # Renamed away first (one atomic step), then deleted: a command killed while
            # deleting leaves a hidden sibling folder, never a half-deleted run record that
            # the next command at this path would read as a damaged lake.
            doomed = Path(tempfile.mkdtemp(prefix=".retail-refused-", dir=lake.root.parent))
            lake.root.rename(doomed / "lake")
            shutil.rmtree(doomed, ignore_errors=True)
        raise


TABLE_ROWS = 1000
"""Up to this many files, the summary is a table; more are tab-separated lines, one a file:
Rich measures and draws every cell (0.36 ms a row: 43 s for a folder of 119,000 files, silent
after the ingest itself was done)."""


def _summary(rows: list[tuple[str, str, str, str, str]]) -> None:
    """Every file's outcome on stdout: a table, or for a large folder tab-separated lines with
    the same columns (as quick to write as to parse)."""
    header = ("file", "status", "lines", "rejected", "note")
    if len(rows) <= TABLE_ROWS:
        table = Table(*header)
        for row in rows:
            status = "[red]refused[/]" if row[1] == "refused" else row[1]
            table.add_row(escape(row[0]), status, row[2], row[3], escape(row[4]))
        console.print(table)
        return
    flat = str.maketrans("\t\r\n", "   ")  # (a name may hold them: one line per file)
    lines = ("\t".join(cell.translate(flat) for cell in row) for row in [header, *rows])
    console.file.write("\n".join(lines) + "\n")
    console.file.flush()


def _format_options(
    ctx: typer.Context, date_order: DateOrderChoice | None, decimal: DecimalChoice | None
) -> FormatOptions:
    """The command line's declaration over ``[formats]`` of the settings."""
    from retail_lakehouse.sources.formats import Declared, FormatOptions

    given = Declared(
        date_order=date_order.value if date_order else None,
        decimal=decimal.value if decimal else None,
        origin=" ".join(
            part
            for part in (
                f"--date-order {date_order.value}" if date_order else "",
                f"--decimal {decimal.value}" if decimal else "",
            )
            if part
        ),
    )
    return FormatOptions.from_settings(state_from(ctx).settings.formats, given)


def _ingest_replacing(
    lake: Lake,
    old_name: str,
    files: list[Path],
    formats: FormatOptions,
    limits: ReaderLimits | None = None,
) -> None:
    """Ingest the corrected file, then retract the one it replaces, in one recorded run.

    New first: a refused file retracts nothing. The old file is looked up under the lock, after
    the recovery of an interrupted command (which may be this very replacement): run again after
    an interruption, the new file is skipped (already in bronze) and the retraction completes,
    or, when it had completed, the retry says so and exits 0."""
    from retail_lakehouse.lake.recovery import (
        AlreadyRetracted,
        RecoveryRefused,
        find_batch,
        retract_batch,
    )
    from retail_lakehouse.lake.runs import recorded_run
    from retail_lakehouse.pipeline.bronze import FileRefused, ingest_file

    if len(files) != 1:
        raise UsageProblem("--replaces takes exactly one new file")
    already: str | None = None
    with recorded_run(lake, "ingest --replaces") as run:
        for line in run.recovered:
            console.print(f"[yellow]{escape(line)}[/]", highlight=False)
        try:
            old: dict[str, Any] | None = find_batch(lake, file=old_name)
        except AlreadyRetracted as retracted:  # a retry after an interruption: idempotent
            old, already = None, str(retracted)
        except RecoveryRefused as error:
            old = None
            run.refuse(str(error))
        if run.refused is None:
            try:
                report = ingest_file(
                    lake, files[0], run, limits=limits, formats=formats, replaces=old_name
                )
            except FileRefused as file_refused:  # refused while read: nothing was written
                old = None
                run.refuse(f"{file_refused}; {old_name} was not retracted")
        if old is not None:
            if report.status == "skipped" and report.note.endswith(f" batch {old['_batch_seq']}"):
                run.refuse(f"{files[0]} has the same content as {old_name}: nothing to replace")
            else:
                done = retract_batch(lake, old, run, replaced_by=str(files[0]))
                run.changed = True
    if run.refused is not None:
        raise UsageProblem(run.refused)
    if already is not None:
        console.print(
            f"{files[0]}: {report.status} ({report.note or 'in bronze'}); {already}", markup=False
        )
        return
    # A new file whose content bronze already holds under another name is skipped, not
    # ingested: its lines are counted in that batch, and the old file is still retracted.
    outcome = (
        f"skipped ({report.note})"
        if report.batch_seq is None
        else f"{report.status} ({report.rows_ingested:,} lines, batch {report.batch_seq})"
    )
    console.print(
        f"{files[0]}: {outcome}; replaced batch {done.batch_seq} ({done.source_file}, "
        f"{done.lines:,} lines retracted). The next `retail run` updates silver and gold."
    )
    for warning in report.warnings:
        console.print(f"[yellow]note:[/] {escape(warning)}", highlight=False)


def _ingest_changes(lake: Lake, path: Path, box: Sandbox) -> None:
    """``--cdc FILE``: one recorded run that records the events and applies them to silver;
    the file is read in the reader worker ``box``, under the limits."""
    from retail_lakehouse.lake.runs import recorded_run
    from retail_lakehouse.pipeline.cdc import ingest_changes
    from retail_lakehouse.sources.errors import FileRefused

    if not path.is_file():
        raise UsageProblem(f"--cdc {path}: no such file")
    try:
        with recorded_run(lake, "ingest --cdc") as run:
            report = ingest_changes(lake, path, run, sandbox=box)
    except FileRefused as refused:
        raise UsageProblem(str(refused)) from None
    console.print(
        f"{path}: {report.received:,} change event(s) = {report.applied:,} applied "
        f"({report.deleted:,} deletes) + {report.superseded:,} superseded + "
        f"{report.duplicates:,} duplicates ({'balanced' if report.balanced else 'UNBALANCED'})"
    )
    if report.synced is not None:
        console.print(f"bronze: {report.synced.describe()}")
