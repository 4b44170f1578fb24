"""Scratch files that name their writer, and the sweep that removes them once abandoned.

A file written under a temporary name and renamed into place when complete (an upload into
``landing/``, an object of a backup) stays behind when its writer is killed between the two
steps. Nothing reads it (ingest and the watcher skip dot files, a backup names objects by
content), but nothing removed it either: the next writer into the same folder now does.

It removes a file only when it can prove the file is its own kind and abandoned:

- **its own kind**: the name is ``.<kind>-<pid>@<host>-<random>[suffix]``, a pattern no user
  file and no other tool's file has;
- **abandoned**: the writer named in it ran on this host and its process is gone
  (``os.kill(pid, 0)`` fails with "no such process"), or the file has not been written to for
  :data:`STALE_SECONDS` (a writer on another host sharing the folder, or a name from before
  writers named themselves: ``.<kind>-<random>[suffix]``). A pid reused by an unrelated live
  process only keeps the file until the age bound: the rule errs towards keeping.

Decision 0007's addendum "stale scratch files" records why a pid and an age, rather than a lock.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from pathlib import Path

STALE_SECONDS = 24 * 3600
"""A scratch file unwritten this long is abandoned whoever wrote it: a writer streams its file
in 1 MiB pieces, so even a slow upload touches it every few seconds."""

_HOST = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"


def scratch_path(folder: Path, kind: str, suffix: str = "") -> Path:
    """A fresh scratch file name in ``folder`` that names this process as its writer."""
    return folder / f".{kind}-{os.getpid()}@{_HOST}-{secrets.token_hex(8)}{suffix}"


def _pattern(kind: str, suffix: str) -> re.Pattern[str]:
    tail = re.escape(suffix)
    return re.compile(
        rf"\.{re.escape(kind)}-(?:(?P<pid>\d+)@(?P<host>[A-Za-z0-9._-]+)-)?[0-9a-f]{{8,64}}{tail}"
    )


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # alive under another user, or not a real pid
        return False
    return False


def sweep(folder: Path, kind: str, suffix: str = "") -> list[Path]:
    """Remove the abandoned scratch files of ``kind`` directly in ``folder``; return them."""
    pattern = _pattern(kind, suffix)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    now = time.time()
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            idle = now - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        pid, host = match["pid"], match["host"]
        mine_and_dead = pid is not None and host == _HOST and _process_gone(int(pid))
        if mine_and_dead or idle > STALE_SECONDS:
            try:
                os.unlink(entry.path)
            except FileNotFoundError:  # another sweeper got there first
                continue
            removed.append(Path(entry.path))
    return removed
