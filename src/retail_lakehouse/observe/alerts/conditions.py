"""The conditions behind the alerts the watcher raises, each with the moment it clears.

* ``run_failed`` / ``quality_gate_failed``: a pipeline run failed (after its retries); cleared
  by the next successful run.
* ``file_refused``: one alert per refused file (its name and content hash), never repeated.
* ``freshness``: no file matching a source pattern arrived for N hours; cleared by a new one.
* ``publish_failed``: ``[publish] after_run`` could not publish a run's gold to PostgreSQL
  (after its retries); cleared by the next publish that works.
* ``slow_run``: a run took more than ``slow_run_factor`` times the median of the recent
  successful runs of the same command; cleared by the next run of normal speed.
"""

from __future__ import annotations

import fnmatch
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import PurePath

from retail_lakehouse.lake.contracts.bronze import BRONZE_FILES
from retail_lakehouse.lake.contracts.meta import META_RUNS
from retail_lakehouse.lake.query import LakeSQL
from retail_lakehouse.observe.alerts.book import AlertBook
from retail_lakehouse.observe.alerts.model import (
    KIND_FILE_REFUSED,
    KIND_FRESHNESS,
    KIND_GATE_FAILED,
    KIND_PUBLISH_FAILED,
    KIND_RUN_FAILED,
    KIND_SLOW_RUN,
    Alert,
)

RUN_FAILED = "run_failed"
GATE_FAILED = "quality_gate_failed"
PUBLISH_FAILED = "publish_failed"


def run_failed(book: AlertBook, error: BaseException, *, attempts: int) -> Alert | None:
    """A run failed for good: a failed gate is its own kind (fix the data, not the machine).
    Its caller, the watcher, has said the reason (``reported``)."""
    from retail_lakehouse.pipeline.errors import GateFailed

    run_id = last_failed_run(book)
    if isinstance(error, GateFailed):
        return book.raise_alert(
            KIND_GATE_FAILED,
            GATE_FAILED,
            str(error),
            severity="critical",
            run_id=run_id,
            reported=True,
        )
    message = f"pipeline run failed after {attempts} attempt(s): {type(error).__name__}: {error}"
    return book.raise_alert(
        KIND_RUN_FAILED, RUN_FAILED, message, severity="critical", run_id=run_id, reported=True
    )


def run_succeeded(book: AlertBook) -> None:
    """A successful run clears the failure conditions."""
    book.resolve(RUN_FAILED)
    book.resolve(GATE_FAILED)


def publish_failed(book: AlertBook, reason: str, *, attempts: int) -> Alert | None:
    """The lake's gold could not reach PostgreSQL: the lake is right, the BI database behind
    it. Its caller, the watcher, has said the reason (``reported``)."""
    message = f"publishing to PostgreSQL failed after {attempts} attempt(s): {reason}"
    return book.raise_alert(
        KIND_PUBLISH_FAILED, PUBLISH_FAILED, message, severity="critical", reported=True
    )


def publish_succeeded(book: AlertBook) -> None:
    """A publish that worked clears the publish condition."""
    book.resolve(PUBLISH_FAILED)


def file_refused(book: AlertBook, name: str, sha256: str | None, reason: str) -> Alert | None:
    """A file the watcher refused (and said so, with the reason: ``reported``)."""
    condition = f"file_refused:{name}:{sha256 or '-'}"
    return book.raise_alert(
        KIND_FILE_REFUSED, condition, f"file {name} refused: {reason}", subject=name, reported=True
    )


def check_freshness(book: AlertBook, *, since: datetime, now: datetime | None = None) -> None:
    """For each ``[[alerts.freshness]]`` pattern: raise when the newest matching file in
    bronze is older than its hours; clear otherwise. When no matching file ever arrived the
    clock starts at ``since`` (the watcher's start), so a new project is not alerted at once."""
    if book.settings is None or not book.settings.alerts.freshness:
        return
    now = now or datetime.now(UTC)
    newest = _ingest_times(book)
    for rule in book.settings.alerts.freshness:
        times = [at for name, at in newest if fnmatch.fnmatch(PurePath(name).name, rule.pattern)]
        last = max(times) if times else None
        reference = last or since
        condition = f"freshness:{rule.pattern}"
        age = now - reference
        if age > timedelta(hours=rule.hours):
            seen = f"last at {last.isoformat(timespec='seconds')}" if last else "none yet"
            book.raise_alert(
                KIND_FRESHNESS,
                condition,
                f"no new file matching {rule.pattern!r} for {age.total_seconds() / 3600:.1f} h "
                f"(limit {rule.hours:g} h; {seen})",
                value=round(age.total_seconds() / 3600, 3),
                baseline=rule.hours,
                subject=rule.pattern,
            )
        else:
            book.resolve(condition)


def check_slow_run(book: AlertBook, run_id: str) -> Alert | None:
    """Compare run ``run_id``'s duration with the median of the recent successful runs of the
    same command (from ``meta.runs``)."""
    if book.settings is None:
        return None
    limits = book.settings.alerts
    with LakeSQL(book.lake, tables=[META_RUNS.qualified]) as sql:
        this = sql.rows(
            "SELECT command, seconds, started_at FROM meta.runs WHERE run_id = ?", [run_id]
        )
        if not this or this[0]["seconds"] is None:
            return None
        command, seconds = this[0]["command"], float(this[0]["seconds"])
        earlier = (
            sql.arrow(
                "SELECT seconds FROM meta.runs WHERE command = ? AND status = 'succeeded' "
                "AND run_id <> ? AND started_at < ? AND seconds IS NOT NULL "
                "ORDER BY started_at DESC LIMIT ?",
                [command, run_id, this[0]["started_at"], limits.slow_run_history],
            )
            .column("seconds")
            .to_pylist()
        )
    condition = f"slow_run:{command}"
    if len(earlier) < limits.slow_run_min_runs:
        return None
    median = statistics.median(earlier)
    if seconds >= limits.slow_run_min_seconds and seconds > limits.slow_run_factor * median:
        return book.raise_alert(
            KIND_SLOW_RUN,
            condition,
            f"run {run_id} ({command}) took {seconds:.1f} s, {seconds / median:.1f}x the median "
            f"{median:.1f} s of the previous {len(earlier)} runs",
            run_id=run_id,
            value=seconds,
            baseline=median,
            subject=command,
        )
    book.resolve(condition)
    return None


def last_failed_run(book: AlertBook) -> str | None:
    if not book.lake.exists(META_RUNS.qualified):
        return None
    with LakeSQL(book.lake, tables=[META_RUNS.qualified]) as sql:
        rows = sql.rows(
            "SELECT run_id FROM meta.runs WHERE status = 'failed' ORDER BY finished_at DESC LIMIT 1"
        )
    return rows[0]["run_id"] if rows else None


def _ingest_times(book: AlertBook) -> list[tuple[str, datetime]]:
    """(source file, ingested at) of every file in bronze: one small manifest row per file."""
    if not book.lake.exists(BRONZE_FILES.qualified):
        return []
    with LakeSQL(book.lake, tables=[BRONZE_FILES.qualified]) as sql:
        rows = sql.rows("SELECT _source_file, _ingested_at FROM bronze.files")
    return [(row["_source_file"], row["_ingested_at"]) for row in rows]
