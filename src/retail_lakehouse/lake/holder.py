"""Who holds the lake's writer lock, read without touching the lock and without the lake's
libraries (``retail status`` asks on every call and must stay light).

The writer writes its pid, command and start time to ``.writer.lock.holder`` beside the lock
(:meth:`retail_lakehouse.lake.store.Lake.writer_lock`); a note whose process is gone was left by a
killed writer and means nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LOCK_FILE = ".writer.lock"
HOLDER_FILE = ".writer.lock.holder"


def live_holder(root: Path) -> dict[str, Any] | None:
    """The process writing to the lake at ``root`` now (pid, command, since), or None."""
    try:
        holder: dict[str, Any] = json.loads((root / HOLDER_FILE).read_text(encoding="utf-8"))
        pid = int(holder["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return holder if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
