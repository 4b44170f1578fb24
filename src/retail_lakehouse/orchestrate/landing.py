"""What counts as a file waiting in ``landing/``: shared by ``retail watch`` and the Dagster
sensor, so both pick up (and skip) exactly the same files.

Listing is stat-only (``os.scandir``): nothing is opened or hashed until a file is taken.
Skipped: hidden names, Office lock files (``~$x.xlsx``), names of files still being written
(``*.part``, ``*.tmp``, ...) and the watcher's own ``_refused/`` and ``_archive/`` folders (any
top-level folder whose name starts with ``_``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

REFUSED_FOLDER = "_refused"
ARCHIVE_FOLDER = "_archive"
TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".filepart", ".download")


def landing_problem(landing: Path, lake: Path) -> str | None:
    """Why ``landing`` cannot be watched, or None: a landing folder holding the lake, or the
    ``retail.toml`` in use, would have the lake's own files taken as input and the settings
    moved to ``_refused/`` (``landing = "."`` in a project)."""
    from retail_lakehouse.config_file import find_config_file

    here = landing.resolve()
    if lake.resolve().is_relative_to(here):
        return (
            f"the landing folder {landing} holds the lake ({lake}): its own files would be "
            "taken as input; set landing to a folder of its own (retail.toml: landing)"
        )
    config = find_config_file()
    if config is not None and config.resolve().parent.is_relative_to(here):
        return (
            f"the landing folder {landing} holds the settings ({config}), which would be "
            "moved to _refused/; set landing to a folder of its own (retail.toml: landing)"
        )
    return None


def landing_files(landing: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every candidate file under ``landing`` with its stat, in no particular order."""
    folders = [landing]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith((".", "~$")):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not (folder == landing and name.startswith("_")):
                        folders.append(Path(entry.path))
                    continue
                if not entry.is_file() or name.lower().endswith(TEMPORARY_SUFFIXES):
                    continue
                yield Path(entry.path), entry.stat()
            except OSError:  # vanished between listing and stat
                continue


def sha256_of(path: Path) -> str | None:
    """The file's content hash (what bronze keys files by), or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
