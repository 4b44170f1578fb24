"""What the lake looks like, in version numbers: enough to know that nothing changed.

A fingerprint is every Delta table's latest version (the highest commit file in its
``_delta_log``, which is how the Delta protocol defines it) plus the names of everything else in
the layer folders (a new table, a table's folder without a log). Taking one costs a few directory
listings: no Parquet, no pyarrow, no delta-rs. What lives beside the layers (the observation
journals ``_logs``, ``_lineage``, ``_metrics``, the watcher's ``_watch``, the writer's lock) does
not decide what a run has to do, so it is not part of it.

``retail run`` records the fingerprint it leaves behind, under the writer lock, after the last
commit of a run that processed everything and passed the accounting check
(:func:`record_settled`). The next ``retail run`` compares (:func:`settled_run`): equal, and no
intent in ``<lake>/_journal`` (an interrupted command is work: its recovery runs first, see
``lake.intents``), means no commit of any kind happened since, so every watermark is still at
the top of its input, the accounting checked then still holds, and there is nothing to do. Any
difference, a pending intent, a missing or unreadable file, or ``--full-refresh`` means the full
path, which decides from the watermarks as before. The file is a cache: deleting it costs one
ordinary run, never a wrong answer.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

STATE_FILE = "_settled.json"
"""At the lake root, beside the writer lock."""

LAYERS = ("bronze", "silver", "gold", "meta")
JOURNAL = "_journal"
"""``lake.intents.JOURNAL`` (spelled here: that module is not needed for the check)."""
FORMAT_FILE = "lake-format.json"
"""``lake.intents.FORMAT_FILE``: the lake's format record, not an intent."""
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
    """Versions of every table in the layer folders under ``root`` and the names of every
    other entry in those folders."""
    tables: dict[str, int | None] = {}
    others: list[str] = []
    for layer in LAYERS:
        try:
            children = sorted(os.scandir(root / layer), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for child in children:
            name = f"{layer}/{child.name}"
            if name in _UNTRACKED:
                continue
            if child.is_dir() and os.path.isdir(os.path.join(child.path, "_delta_log")):
                tables[name] = latest_version(Path(child.path))
            else:
                others.append(name)
    return {"tables": tables, "others": others}


def intents_pending(root: Path) -> bool:
    """Whether an intent (``<run_id>.json``) waits in the journal: a command that started and
    did not finish, or one running now."""
    try:
        return any(
            name.endswith(".json") and name != FORMAT_FILE for name in os.listdir(root / JOURNAL)
        )
    except (FileNotFoundError, NotADirectoryError):
        return False


def record_settled(root: Path, run_id: str | None) -> None:
    """Remember the lake as a run that processed everything left it (call under the writer
    lock, after the run's last commit). ``run_id`` None (a run that changed nothing) keeps the
    run named by the previous record. Written to a temporary name, then renamed."""
    target = root / STATE_FILE
    if run_id is None:
        run_id = _recorded(target).get("run_id") if target.exists() else None
    state = {"run_id": run_id, **fingerprint(root)}
    temporary = target.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
    os.replace(temporary, target)


def settled_run(root: Path) -> str | None:
    """The run id whose end state the lake is still in ("" when that run is not known), or
    None when anything changed since or an interrupted command waits for its recovery."""
    state = _recorded(root / STATE_FILE)
    if not state.get("tables") or intents_pending(root):
        return None
    current = fingerprint(root)
    if state.get("tables") != current["tables"] or state.get("others") != current["others"]:
        return None
    run_id = state.get("run_id")
    return run_id if isinstance(run_id, str) else ""


def _recorded(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}
