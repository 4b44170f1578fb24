"""The watcher's presence in the lake: an exclusive lock naming its holder, and a heartbeat.

Both live in ``<lake>/_watch/`` (beside the layers, not a table): ``watch.lock`` is held with
``flock`` for the watcher's whole life, so a second watcher on the same lake cannot start and
can name the first (its pid, host and start time are written inside); ``heartbeat.json`` is
rewritten atomically every few seconds with what ``retail status`` shows: alive or not, since
when, the last file, the last run and the next scheduled one. The kernel releases the lock when
the process dies, however it dies, so a crashed watcher never blocks the next start.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retail_lakehouse.lake import Lake

FOLDER = "_watch"


class WatcherRunning(RuntimeError):
    """Another watcher holds this lake."""


def watch_folder(lake: Lake | Path) -> Path:
    return (lake if isinstance(lake, Path) else lake.root) / FOLDER


class ProcessLock:
    """An exclusive ``flock`` on ``path`` held for a process's whole life, with the holder's pid,
    host and start time written inside so a second process can name it (the kernel releases it
    when the holder dies, however it dies). ``busy`` makes the error for a second process."""

    def __init__(
        self,
        path: Path,
        busy: Callable[[dict[str, Any]], Exception],
        detail: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.busy = busy
        self.detail = detail or {}  # written with the holder (the stream lock: its subject)
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_json(self.path)
            os.close(fd)
            raise self.busy(holder) from None
        os.ftruncate(fd, 0)
        holder_text = json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started_at": _now(), **self.detail}
        )
        os.write(fd, holder_text.encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def recorded_holder(path: Path) -> dict[str, Any]:
    """What the last holder of a :class:`ProcessLock` wrote in it (``{}`` when unreadable)."""
    return _read_json(path)


def held_by_another(path: Path) -> dict[str, Any] | None:
    """The holder written in ``path`` when another process holds that lock now, else None.

    Probed with a shared ``flock`` released at once: a process acquiring the lock in that
    instant is refused as if it were held (the error is towards refusing, never towards two
    holders)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_json(path)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 12 on host, since 2026-...``: who holds a :class:`ProcessLock`."""
    return (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
        f"since {holder.get('started_at', '?')}"
    )


class WatchLock(ProcessLock):
    """The one-watcher-per-lake lock (released by the kernel if the process dies)."""

    def __init__(self, lake: Lake) -> None:
        folder = watch_folder(lake)
        super().__init__(
            folder / "watch.lock",
            lambda holder: WatcherRunning(
                f"another retail watch is already watching {folder.parent}: "
                + describe_holder(holder)
            ),
        )


class Heartbeat:
    """``heartbeat.json``: the watcher's state, rewritten atomically on every change and every
    ``interval_seconds`` by a background thread (so a long run still shows as alive)."""

    def __init__(self, lake: Lake, interval_seconds: float) -> None:
        self.path = watch_folder(lake) / "heartbeat.json"
        self.interval = interval_seconds
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.state: dict[str, Any] = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": _now(),
            "interval_seconds": interval_seconds,
            "state": "starting",
            "last_file": None,
            "last_file_at": None,
            "last_run_id": None,
            "last_run_status": None,
            "last_run_at": None,
            "next_scheduled_run": None,
            "pending_run": False,
        }

    def beat(self, **changes: Any) -> None:
        with self._lock:
            self.state.update(changes)
            self.state["updated_at"] = _now()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.state, indent=2, default=str))
            os.replace(temporary, self.path)

    def start(self) -> None:
        def loop() -> None:
            while not self._stopped.wait(self.interval):
                self.beat()

        self.beat()
        self._thread = threading.Thread(target=loop, name="retail-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, **changes: Any) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.beat(**changes)


def watcher_status(lake: Lake | Path) -> dict[str, Any] | None:
    """The last heartbeat with ``alive``: the watcher's process runs (same host) or, seen from
    another host, its heartbeat is recent. None when no watcher ever ran on this lake."""
    path = watch_folder(lake) / "heartbeat.json"
    beat = _read_json(path)
    if not beat:
        return None
    alive = beat.get("state") not in {"stopped", None}
    try:
        updated = datetime.fromisoformat(str(beat.get("updated_at")))
    except ValueError:
        alive = False
    else:
        limit = 3 * float(beat.get("interval_seconds") or 30) + 5
        alive = alive and (datetime.now(UTC) - updated).total_seconds() < limit
    if alive and beat.get("host") == socket.gethostname():
        alive = _pid_alive(int(beat.get("pid", 0)))
    beat["alive"] = alive
    return beat


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
