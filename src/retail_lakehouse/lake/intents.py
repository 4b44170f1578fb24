"""Restartable commands: an intent written when a writing command starts, recovered by the next.

Every writing command runs inside :func:`retail_lakehouse.lake.runs.recorded_run`, which, under
the writer lock:

1. recovers every intent an earlier command left behind (:func:`recover_all`), before doing any
   work of its own;
2. writes its own intent, ``<lake>/_journal/<run_id>.json`` (written to a temporary name,
   fsync'd, renamed: it is either whole or absent), naming the run, the command, the process,
   when it started, and the dotted name of the function that completes or undoes the command;
3. lets the command add notes to it as it goes (:meth:`Intent.note`: "batch 7 reserved", "past
   the point of no return"), each note durable before the step it describes;
4. deletes it when the command has ended and ``meta.runs`` says so.

So an intent on disk means exactly "this command started and did not finish". Recovering one
(:func:`recover`) is, in order: call the command's own recovery function (completes or undoes its
layer-specific work), remove the Parquet files the command wrote that no Delta version references
(its partial files), record the run in ``meta.runs`` as ``interrupted`` (or ``failed``), and
delete the intent. Every step is idempotent, so a recovery that is itself interrupted is simply
done again by the command after it.

Adding a writing command: pass ``recovery="package.module:function"`` to ``recorded_run``; the
function takes ``(lake, intent)``, must be idempotent, may read ``intent.notes``, and returns a
short description of what it did (or ""). It runs under the writer lock, inside the recovering
command's run (its commits carry that run's id).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retail_lakehouse.lake.store import Lake

JOURNAL = "_journal"
FORMAT_FILE = "lake-format.json"
"""The lake's format record, kept in the journal (``lake/lake_format.py`` says why)."""
RecoveryFunction = Callable[["Lake", "Intent"], str]


@dataclass
class Intent:
    """One writing command that has started and not (yet) finished."""

    run_id: str
    command: str
    pid: int
    started_at: float  # time.time() when the intent was written
    recovery: str | None = None  # "package.module:function"
    notes: dict[str, Any] = field(default_factory=dict)
    folder: str = ""  # the journal folder (not stored)

    @property
    def path(self) -> Path:
        return Path(self.folder) / f"{self.run_id}.json"

    def note(self, *, recovery: str | None = None, **values: Any) -> None:
        """Add ``values`` to the intent, durably, before the step they describe is taken;
        ``recovery`` (``package.module:function``) names what completes or undoes the work."""
        if recovery is not None:
            self.recovery = recovery
        self.notes.update(values)
        _write_atomic(self.path, self._json(), sync=False)

    def _json(self) -> str:
        data = asdict(self)
        data.pop("folder")
        return json.dumps(data, sort_keys=True, default=str)


def journal(lake: Lake | Path) -> Path:
    """``<lake>/_journal`` (a lake's root folder will do: ``retail status`` opens no table)."""
    return (lake if isinstance(lake, Path) else lake.root) / JOURNAL


def begin(lake: Lake, run_id: str, command: str, recovery: str | None = None) -> Intent:
    """Record that ``command`` (run ``run_id``) starts now."""
    folder = journal(lake)
    folder.mkdir(parents=True, exist_ok=True)
    intent = Intent(run_id, command, os.getpid(), time.time(), recovery, folder=str(folder))
    _write_atomic(intent.path, intent._json())
    return intent


def end(intent: Intent) -> None:
    """The command is over and recorded: forget the intent."""
    intent.path.unlink(missing_ok=True)


def pending(lake: Lake | Path) -> list[Intent]:
    """Intents left by commands that did not finish, oldest first."""
    folder = journal(lake)
    if not folder.is_dir():
        return []
    found: list[Intent] = []
    for path in folder.glob("*.json"):
        if path.name == FORMAT_FILE:  # the lake's format record, not a command
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a torn temporary never has this name; anything else is not ours
        found.append(Intent(**data, folder=str(folder)))
    return sorted(found, key=lambda i: (i.started_at, i.run_id))


def resolve(dotted: str) -> RecoveryFunction:
    """The recovery function named ``package.module:function`` (only this package's)."""
    module_name, _, name = dotted.partition(":")
    if not module_name.startswith("retail_lakehouse.") or not name:
        raise ValueError(f"not a retail_lakehouse recovery function: {dotted!r}")
    function: RecoveryFunction = getattr(importlib.import_module(module_name), name)
    return function


def recover(lake: Lake, intent: Intent, *, status: str = "interrupted", error: str = "") -> str:
    """Complete or undo what ``intent``'s command left, record it in ``meta.runs``, forget it.

    Returns a description of what was done."""
    from retail_lakehouse.lake.commits import tagged
    from retail_lakehouse.lake.runs import record_run

    done: list[str] = []
    if intent.recovery:
        what = resolve(intent.recovery)(lake, intent)
        if what:
            done.append(what)
    removed = remove_unreferenced_files(lake, since=intent.started_at)
    if removed:
        done.append(f"{removed} unreferenced data file(s) removed")
    summary = "; ".join(done)
    reason = error or "interrupted (process ended before the command finished)"
    if summary:
        reason = f"{reason}; recovery: {summary}"
    with tagged(intent.run_id, intent.command):  # the row is the interrupted run's own: an
        record_run(  # idle recovering command (not recorded) would leave it "unrecorded"
            lake,
            run_id=intent.run_id,
            command=intent.command,
            started_at=intent.started_at,
            status=status,
            error=reason,
            if_absent=True,
        )
    end(intent)
    return summary


def recover_all(lake: Lake) -> list[str]:
    """Recover every pending intent (the caller holds the writer lock); one line per intent."""
    lines = []
    for intent in pending(lake):
        summary = recover(lake, intent)
        lines.append(
            f"recovered interrupted {intent.command} (run {intent.run_id})"
            + (f": {summary}" if summary else "")
        )
    return lines


# -- partial files -----------------------------------------------------------------------------

SCRATCH_MARK = ".input"
"""Names a scratch file beside a staged one (a reader's decompressed copy): never a Delta data
file, so a recovering command deletes any its interrupted command left."""


def scratch_beside(staged: Path, suffix: str) -> Path:
    """A scratch file named after the staged file ``staged``, ending in ``suffix``."""
    return staged.with_name(f"{staged.name}{SCRATCH_MARK}{suffix}")


_SLACK_SECONDS = 2.0


def remove_unreferenced_files(lake: Lake, *, since: float) -> int:
    """Delete data files written since ``since`` that no Delta commit references.

    Only files of the interrupted command can qualify: a file is a candidate when it was
    modified after the command started, and it is kept if any commit made since then (the only
    commits that can name it) adds it. The caller holds the writer lock, so no other writer is
    between writing a file and committing it. Leftover commit temporaries go too, and scratch
    files beside staged ones (a reader's decompressed copy, as large as the limits allow: when
    the command and its reader died together nobody else deletes it)."""
    removed = 0
    for qualified in lake.tables():
        folder = lake.path(qualified)
        log = folder / "_delta_log"
        referenced: set[str] = set()
        for entry in log.iterdir():
            if entry.suffix == ".tmp" and _mtime(entry) >= since - _SLACK_SECONDS:
                entry.unlink(missing_ok=True)
            elif entry.suffix == ".json" and _mtime(entry) >= since - 2 * _SLACK_SECONDS:
                referenced |= _added_paths(entry)
        for data in folder.iterdir():
            if (
                data.is_file()
                and data.suffix == ".parquet"
                and data.name not in referenced
                and _mtime(data) >= since - _SLACK_SECONDS
            ):
                data.unlink(missing_ok=True)
                removed += 1
    for scratch in lake.root.glob(f"*/*/part-*{SCRATCH_MARK}*"):  # (tables without a log too)
        if scratch.is_file() and _mtime(scratch) >= since - _SLACK_SECONDS:
            scratch.unlink(missing_ok=True)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _added_paths(commit_file: Path) -> set[str]:
    paths: set[str] = set()
    with contextlib.suppress(OSError):
        for line in commit_file.read_text(encoding="utf-8").splitlines():
            if '"add"' not in line:
                continue
            action = json.loads(line).get("add")
            if action:
                paths.add(Path(action["path"]).name)
    return paths


# -- counters that must never go back ----------------------------------------------------------


def read_floor(lake: Lake, name: str) -> int:
    """The highest number ever handed out for ``name`` and then discarded (0 if none)."""
    path = journal(lake) / f"{name}.floor"
    try:
        return int(path.read_text(encoding="utf-8").strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def raise_floor(lake: Lake, name: str, value: int) -> None:
    """Remember that numbers up to ``value`` of ``name`` are used (an undone batch's number)."""
    if value > read_floor(lake, name):
        folder = journal(lake)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(folder / f"{name}.floor", str(int(value)))


# -- durable small files -----------------------------------------------------------------------


def _write_atomic(path: Path, text: str, *, sync: bool = True) -> None:
    """Whole or absent, whatever kills the process: written aside, then renamed over.

    ``sync`` also forces it to the disk (power loss). Notes skip that: they are written per
    ingested file, a sync costs milliseconds, and a process that dies (the case recovery is
    for) leaves its written pages to the kernel; the intent itself is synced once."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)
    if sync:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
