"""Keeping the lake small: compact small files (optimize) and delete unneeded ones (vacuum).

Incremental runs leave one small file per batch in the big tables and one file per rewrite of
the small ones. ``optimize`` rewrites a table's live files into few large ones (delta-rs
``optimize.compact``: the same rows, a new version, old files kept for time travel). Compacted
files keep per-column statistics, including ``_batch_seq``'s min/max that staged commits use to
replace whole files by batch; a compacted file spanning several batches is replaced row by row
when one of its batches is rewritten (correct, slower), which only rekeying and retractions do.

``vacuum`` deletes the files no version inside the retention window needs, and files no version
ever referenced (staged files of an interrupted command) older than the window. Reading a
version whose files were deleted fails, so vacuum refuses a window shorter than the default
(7 days) unless forced, and says which time travel is lost. Both run under the writer lock, so
no staged file of a live writer is ever taken for garbage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retail_lakehouse.config import DEFAULT_RETAIN_HOURS, MAX_RETAIN_HOURS
from retail_lakehouse.lake.commits import commit
from retail_lakehouse.lake.store import WRITER_PROPERTIES, Lake


class RetentionRefused(ValueError):
    """A vacuum window out of range, or below the default without ``--force`` (a usage error)."""


@dataclass
class Compaction:
    table: str
    files_before: int
    files_after: int
    version: int | None = None


@dataclass
class VacuumReport:
    retain_hours: int
    files_deleted: dict[str, int] = field(default_factory=dict)
    cutoff: datetime | None = None
    runs_lost: list[str] = field(default_factory=list)
    bytes_deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.files_deleted.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_deleted.values())

    def describe(self) -> str:
        """``deleted N file(s) (B bytes)``: what the vacuum removed from disk."""
        return f"deleted {self.total} file(s) ({self.total_bytes:,} bytes)"


def live_files(lake: Lake, qualified: str) -> int:
    table = lake.delta(qualified)
    return 0 if table is None else len(table.file_uris())


def parquet_files_on_disk(lake: Lake) -> int:
    """Parquet files under the lake root (live, old versions and strays alike)."""
    return sum(1 for _ in lake.root.rglob("*.parquet"))


def optimize(
    lake: Lake, tables: list[str] | None = None, *, min_files: int = 2
) -> list[Compaction]:
    """Compact every table (or ``tables``) holding at least ``min_files`` live files."""
    done: list[Compaction] = []
    for name in tables if tables is not None else lake.tables():
        table = lake.delta(name)
        if table is None:
            continue
        before = len(table.file_uris())
        if before < min_files:
            done.append(Compaction(name, before, before))
            continue
        with commit(name) as properties:
            table.optimize.compact(
                writer_properties=WRITER_PROPERTIES, commit_properties=properties
            )
        after = lake.delta(name)
        assert after is not None
        done.append(Compaction(name, before, len(after.file_uris()), after.version()))
    return done


def check_retention(retain_hours: int, force: bool) -> None:
    """Refuse a window shorter than the default unless forced, and one past the calendar."""
    if retain_hours < 0:
        raise RetentionRefused("--retain must be 0h or more")
    if retain_hours > MAX_RETAIN_HOURS:
        raise RetentionRefused(
            f"--retain {retain_hours:,}h: give at most {MAX_RETAIN_HOURS:,}h (100 years, which "
            "already keeps every version)"
        )
    if retain_hours < DEFAULT_RETAIN_HOURS and not force:
        raise RetentionRefused(
            f"--retain {retain_hours:g}h is shorter than the default {DEFAULT_RETAIN_HOURS}h: "
            f"time travel (`retail sql --as-of`, `retail rollback`) to states older than "
            f"{retain_hours:g}h would no longer work, and a query reading an older snapshot "
            "at that moment could fail. Add --force to do it anyway."
        )


def time_travel_lost(lake: Lake, retain_hours: int) -> tuple[datetime, list[str]]:
    """The cut-off, and the runs whose state can no longer be read after a vacuum."""
    from retail_lakehouse.lake.history import runs

    cutoff = datetime.now(UTC) - timedelta(hours=retain_hours)
    finished = runs(lake)
    lost = [run.run_id for run in finished[:-1] if run.finished_at < cutoff]
    return cutoff, lost


def vacuum(lake: Lake, retain_hours: int, *, force: bool = False) -> VacuumReport:
    """Delete the files no version within ``retain_hours`` needs, in every table."""
    check_retention(retain_hours, force)
    cutoff, lost = time_travel_lost(lake, retain_hours)
    report = VacuumReport(retain_hours, cutoff=cutoff, runs_lost=lost)
    for name in lake.tables():
        table = lake.delta(name)
        if table is None:
            continue
        folder = lake.path(name)
        before = _files(folder)
        with commit(name) as properties:
            table.vacuum(
                retention_hours=int(retain_hours),
                dry_run=False,
                enforce_retention_duration=False,
                full=True,
                commit_properties=properties,
            )
        # Counted on disk: delta-rs also lists removed files an earlier vacuum already deleted,
        # and its full vacuum deletes any file no version references, whatever its name (a
        # reader's decompressed copy ``*.input.csv`` left by a kill, strays), not only Parquet.
        after = _files(folder)
        gone = [path for path in before if path not in after]
        report.files_deleted[name] = len(gone)
        report.bytes_deleted[name] = sum(before[path] for path in gone)
    return report


def _files(folder: Path) -> dict[Path, int]:
    """Every file under a table's folder, with its size."""
    found: dict[Path, int] = {}
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                found[path] = path.stat().st_size
        except FileNotFoundError:
            continue
    return found


def auto_maintain(lake: Lake, max_files: int, retain_hours: int) -> str | None:
    """What ``[maintenance] auto`` does after a run: compact the tables holding more than
    ``max_files`` live files, then vacuum with the configured window. None when nothing was due."""
    due = [name for name in lake.tables() if live_files(lake, name) > max_files]
    if not due:
        return None
    done = [c for c in optimize(lake, due) if c.version is not None]
    report = vacuum(lake, retain_hours, force=True)
    before = sum(c.files_before for c in done)
    after = sum(c.files_after for c in done)
    return (
        f"maintenance: compacted {len(done)} table(s) over {max_files} live files ({before} -> "
        f"{after} files); vacuum ({retain_hours}h) {report.describe()}"
    )
