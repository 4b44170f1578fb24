"""What the lake looks like, in version numbers: enough to know that nothing changed.

A fingerprint is every Delta table's latest version (the highest commit file in its
``_delta_log``, which is how the Delta protocol defines it) plus the names of everything else at
the lake root and in the layer folders (a lock, a recovery note, a new table). Taking one costs a
few directory listings: no Parquet, no pyarrow, no delta-rs.

``retail run`` records the fingerprint it leaves behind, under the writer lock, after the last
commit of a run that processed everything (:func:`record_settled`). The next ``retail run`` compares
(:func:`settled_run`): equal means no commit of any kind happened since, so every watermark is
still at the top of its input and there is nothing to do. Any difference, a missing or unreadable
file, or ``--full-refresh`` means the full path, which decides from the watermarks as before. The
file is a cache: deleting it costs one ordinary run, never a wrong answer.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

STATE_FILE = "_settled.json"
"""At the lake root, beside the writer lock."""

_IGNORED = {STATE_FILE, ".writer.lock"}
_UNTRACKED = {"meta/runs"}
"""A command that only records itself (a failed one with nothing committed) changes nothing
else; the run that records the state writes its own ``meta.runs`` row after the record."""
_COMMIT = re.compile(r"^(\d{20})\.(?:json|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")


def latest_version(table: Path) -> int | None:
    """The table's latest committed version, from its log's file names (None: no table)."""
    try:
        names = os.listdir(table / "_delta_log")
    except (FileNotFoundError, NotADirectoryError):
        return None
    versions = [int(m.group(1)) for m in map(_COMMIT.match, names) if m]
    return max(versions) if versions else None


def fingerprint(root: Path) -> dict[str, Any]:
    """Versions of every table under ``root`` and the names of every other entry beside them."""
    tables: dict[str, int | None] = {}
    others: list[str] = []
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        return {"tables": tables, "others": others}
    for entry in top:
        if entry.name in _IGNORED:
            continue
        if not entry.is_dir():
            others.append(entry.name)
            continue
        for child in sorted(os.scandir(entry.path), key=lambda e: e.name):
            name = f"{entry.name}/{child.name}"
            if name in _UNTRACKED:
                continue
            if child.is_dir() and os.path.isdir(os.path.join(child.path, "_delta_log")):
                tables[name] = latest_version(Path(child.path))
            else:
                others.append(name)
    return {"tables": tables, "others": others}


def record_settled(root: Path, run_id: str) -> None:
    """Remember the lake as a run that processed everything left it (call under the writer
    lock, after the run's last commit). Written to a temporary name, then renamed."""
    state = {"run_id": run_id, **fingerprint(root)}
    target = root / STATE_FILE
    temporary = target.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
    os.replace(temporary, target)


def settled_run(root: Path) -> str | None:
    """The run id whose end state the lake is still in, or None when anything changed since."""
    try:
        state = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not state.get("tables"):
        return None
    current = fingerprint(root)
    if state.get("tables") != current["tables"] or state.get("others") != current["others"]:
        return None
    run_id = state.get("run_id")
    return run_id if isinstance(run_id, str) else None
