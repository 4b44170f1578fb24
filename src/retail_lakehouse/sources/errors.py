"""The one error a reader raises: the whole file is refused, with a reason a user can act on."""

from __future__ import annotations

from pathlib import Path


class FileRefused(Exception):
    """A file that cannot be ingested at all; nothing of it is written."""

    def __init__(self, path: Path, reason: str, *, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {reason}")
