"""Versions by run, and "as of": the questions history and time travel ask of the Delta logs.

Every commit carries the run that made it (:mod:`.commits`), and every command is a row of
``meta.runs``. :func:`table_history` reads one table's log (adds, removes and commit info of each
version); :func:`resolve_as_of` turns "as of run R" or "as of a time" into ONE consistent set of
table versions, the one answer used by ``retail sql --as-of``, the API's ``as_of`` parameter,
``retail rollback`` and ``retail backup``.

The rule for a run R: each table at the last version committed no later than R finished (its
``meta.runs`` row, or its own last tagged commit if later), never one tagged by a run that
started after R. Writers hold the lake's lock for a whole command, so no other command's commit
falls inside R's window and the versions chosen are the state right after R, across all tables.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from retail_lakehouse.lake.commits import COMMAND_KEY, RUN_ID_KEY
from retail_lakehouse.lake.contracts.meta import META_RUNS
from retail_lakehouse.lake.store import Lake


class AsOfError(ValueError):
    """An ``--as-of`` value that names no run and is not a time (a usage error)."""


class StateVacuumedError(AsOfError):
    """A past state some of whose data files ``retail vacuum`` deleted: it can no longer be
    read (``retail sql --as-of``, the API's ``as_of``) or rolled back to."""


def require_files(table: str, version: int, files: Iterable[str], state: str) -> None:
    """Refuse a past ``state`` (``"the state after run R"``) when ``version`` of ``table`` needs
    data files that are no longer on disk, naming one: DuckDB would otherwise fail on the first
    missing file with an IO error, an internal error to the user. The one rule for every
    reader of a past state (:class:`~retail_lakehouse.lake.query.LakeSQL` for ``--as-of`` and
    the API, :func:`~retail_lakehouse.lake.recovery.plan_rollback`). Files given as URIs with a
    scheme are left to the reader."""
    gone = [f for f in files if "://" not in f and not os.path.exists(f)]
    if gone:
        raise StateVacuumedError(
            f"{state} can no longer be read or restored: {table} version {version} needs "
            f"{len(gone)} file(s) that `retail vacuum` deleted (e.g. {gone[0]})"
        )


@dataclass(frozen=True)
class Commit:
    """One version of one table, from its ``_delta_log`` entry."""

    table: str
    version: int
    timestamp: datetime
    operation: str
    run_id: str | None
    command: str | None
    files_added: int = 0
    files_removed: int = 0
    bytes_added: int = 0
    bytes_removed: int = 0
    rows_added: int | None = 0
    rows_removed: int | None = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "version": self.version,
            "time": self.timestamp.isoformat(),
            "run_id": self.run_id,
            "command": self.command,
            "operation": self.operation,
            "rows_added": self.rows_added,
            "rows_removed": self.rows_removed,
            "files_added": self.files_added,
            "files_removed": self.files_removed,
            "bytes_added": self.bytes_added,
            "bytes_removed": self.bytes_removed,
        }


@dataclass(frozen=True)
class Run:
    """A ``meta.runs`` row: what history and time travel are keyed by."""

    run_id: str
    command: str
    started_at: datetime
    finished_at: datetime
    status: str


@dataclass
class AsOf:
    """A resolved point in time: the cut-off and each table's version there (None: the table
    did not exist yet)."""

    label: str
    cutoff: datetime
    run: Run | None
    versions: dict[str, int | None] = field(default_factory=dict)


def _log_files(table_dir: Path) -> list[tuple[int, Path]]:
    log = table_dir / "_delta_log"
    try:
        names = os.listdir(log)
    except FileNotFoundError:
        return []
    found = [(int(n[:-5]), log / n) for n in names if n.endswith(".json") and n[:-5].isdigit()]
    return sorted(found)


def table_history(lake: Lake, qualified: str) -> list[Commit]:
    """Every version of ``qualified`` still in its log, oldest first.

    Rows removed are known from the removed files' own statistics (seen when they were added);
    a file added before the oldest log entry kept counts as unknown (None)."""
    rows_of: dict[str, int | None] = {}
    commits: list[Commit] = []
    for version, path in _log_files(lake.path(qualified)):
        info: dict[str, Any] = {}
        added = removed = bytes_added = bytes_removed = 0
        rows_added: int | None = 0
        rows_removed: int | None = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "commitInfo" in action:
                info = action["commitInfo"]
            elif "add" in action:
                add = action["add"]
                added += 1
                bytes_added += int(add.get("size") or 0)
                records = _records(add.get("stats"))
                rows_of[add["path"]] = records
                rows_added = None if rows_added is None or records is None else rows_added + records
            elif "remove" in action:
                remove = action["remove"]
                removed += 1
                bytes_removed += int(remove.get("size") or 0)
                records = rows_of.pop(remove["path"], None)
                rows_removed = (
                    None if rows_removed is None or records is None else rows_removed + records
                )
        stamp = info.get("timestamp")
        when = (
            datetime.fromtimestamp(int(stamp) / 1000, UTC)
            if stamp is not None
            else datetime.fromtimestamp(path.stat().st_mtime, UTC)
        )
        commits.append(
            Commit(
                table=qualified,
                version=version,
                timestamp=when,
                operation=str(info.get("operation", "?")),
                run_id=_text(info.get(RUN_ID_KEY)),
                command=_text(info.get(COMMAND_KEY)),
                files_added=added,
                files_removed=removed,
                bytes_added=bytes_added,
                bytes_removed=bytes_removed,
                rows_added=rows_added,
                rows_removed=rows_removed,
            )
        )
    return commits


def _records(stats: Any) -> int | None:
    if not stats:
        return None
    try:
        value = json.loads(stats).get("numRecords") if isinstance(stats, str) else None
    except ValueError:
        return None
    return int(value) if value is not None else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value)


def lake_history(lake: Lake) -> dict[str, list[Commit]]:
    """Every table's history (tables in layer order)."""
    return {name: table_history(lake, name) for name in lake.tables()}


def runs(lake: Lake) -> list[Run]:
    """The ``meta.runs`` rows, oldest first."""
    if not lake.exists(META_RUNS.qualified):
        return []
    # through DuckDB: delta-rs' reader starts pyarrow.dataset's scan threads, and under load one
    # could still be running native code at exit ("terminate called without an active exception")
    data = lake.read(
        META_RUNS.qualified, ["run_id", "command", "started_at", "finished_at", "status"]
    ).sort_by("started_at")
    return [
        Run(r["run_id"], r["command"], r["started_at"], r["finished_at"], r["status"])
        for r in data.to_pylist()
    ]


_RUN_ID = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{8}$")


def parse_time(text: str) -> datetime:
    """An ISO date or date-time; without a zone it is UTC."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = datetime.combine(date.fromisoformat(text), datetime.max.time())
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        # in UTC now, so later comparisons cannot overflow (year 9999 with a negative offset)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise AsOfError(
            f"{text!r} is neither a run id (see `retail history`) nor a time "
            "(2026-12-04T10:15:00, 2026-12-04)"
        ) from None


def resolve_as_of(lake: Lake, as_of: str) -> AsOf:
    """The state of the whole lake at a run's end (a run id) or at a time (ISO text)."""
    text = as_of.strip()
    known = runs(lake)
    by_id = {run.run_id: run for run in known}
    run = by_id.get(text)
    if run is None and _RUN_ID.match(text):
        raise AsOfError(f"no run {text!r} in meta.runs (see `retail history`)")
    histories = lake_history(lake)
    if run is not None:
        tagged = [c.timestamp for h in histories.values() for c in h if c.run_id == run.run_id]
        cutoff = max([run.finished_at, *tagged])
        later = {r.run_id for r in known if r.started_at > run.started_at}
        label = f"run {run.run_id}"
    else:
        cutoff = parse_time(text)
        # A run not finished by the cut-off is left out whole, as later ones are: a time while
        # a command was between its commits (or is, its intent still in the journal and no
        # row yet) would otherwise cut it in half, its new fact beside its old marts.
        later = {r.run_id for r in known if r.finished_at > cutoff} | _unfinished(lake)
        label = cutoff.isoformat()
    state = AsOf(label, cutoff, run)
    for name, history in histories.items():
        state.versions[name] = _version_at(history, cutoff, later)
    first = min((c.timestamp for h in histories.values() for c in h), default=None)
    if run is None and first is not None and all(v is None for v in state.versions.values()):
        # an empty answer would read as "no sales", not as "before this lake existed"
        raise AsOfError(
            f"nothing had been written to this lake by {label}; "
            f"its first commit is at {first.isoformat()}"
        )
    return state


def last_finished_state(lake: Lake) -> AsOf | None:
    """The lake as the last recorded command left it (None before the first one).

    What a reader reads while another command is between its commits: every table at the
    version that command's predecessor left, never the running command's first commits beside
    the tables it has not reached yet (``retail backup`` and ``retail sql``)."""
    finished = runs(lake)
    return resolve_as_of(lake, finished[-1].run_id) if finished else None


def _unfinished(lake: Lake) -> set[str]:
    """Run ids of commands that started and have not finished (running now, or interrupted
    and not yet recovered): their intents in the journal."""
    from retail_lakehouse.lake.intents import pending

    return {intent.run_id for intent in pending(lake)}


def _version_at(history: list[Commit], cutoff: datetime, later: set[str]) -> int | None:
    chosen: int | None = None
    for commit in history:
        if commit.timestamp > cutoff or (commit.run_id is not None and commit.run_id in later):
            break
        chosen = commit.version
    return chosen


def commits_by_run(histories: dict[str, list[Commit]]) -> dict[str, list[Commit]]:
    """Commits grouped by the run that made them (untagged commits left out)."""
    grouped: dict[str, list[Commit]] = {}
    for history in histories.values():
        for commit in history:
            if commit.run_id:
                grouped.setdefault(commit.run_id, []).append(commit)
    return grouped


def iter_all(histories: dict[str, list[Commit]]) -> Iterator[Commit]:
    for history in histories.values():
        yield from history


def runs_summary(lake: Lake) -> list[dict[str, Any]]:
    """Every run, newest first, with the table versions it committed and their totals (the
    whole-lake view of ``retail history``); commits no run claims are listed under ``-``."""
    grouped = commits_by_run(lake_history(lake))
    known = runs(lake)
    entries: list[dict[str, Any]] = []
    for run in reversed(known):
        entries.append(_run_entry(run.run_id, run, grouped.pop(run.run_id, [])))
    untagged = [c for c in iter_all(lake_history(lake)) if c.run_id is None]
    for run_id, commits in grouped.items():  # tagged by a run that left no meta.runs row
        entries.append(_run_entry(run_id, None, commits))
    if untagged:
        entries.append(_run_entry("-", None, untagged))
    return entries


def _run_entry(run_id: str, run: Run | None, commits: list[Commit]) -> dict[str, Any]:
    def total(name: str) -> int | None:
        values = [getattr(c, name) for c in commits]
        return None if any(v is None for v in values) else sum(values)

    return {
        "run_id": run_id,
        "command": run.command if run else (commits[0].command or "?") if commits else "?",
        "status": run.status if run else "unrecorded",
        "started_at": run.started_at.isoformat() if run else None,
        "finished_at": run.finished_at.isoformat() if run else None,
        "tables": {c.table: c.version for c in commits},
        "versions": [c.as_dict() for c in commits],
        "rows_added": total("rows_added"),
        "rows_removed": total("rows_removed"),
        "files_added": sum(c.files_added for c in commits),
        "files_removed": sum(c.files_removed for c in commits),
        "bytes_added": sum(c.bytes_added for c in commits),
    }
