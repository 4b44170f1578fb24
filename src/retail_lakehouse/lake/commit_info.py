"""The run a Delta commit belongs to: ``run_id`` and ``command`` in every commit's metadata.

:func:`~retail_lakehouse.lake.runs.recorded_run` opens a :func:`run_scope`; every commit path
(``Lake.write``, ``Lake.delete``, the staged commits, restore, optimize, vacuum) asks
:func:`commit_properties` for the metadata to attach. That is what lets ``retail history`` show a
run id beside each table version, and "as of run R" and rollback be questions about runs.

The current run is process-wide, not a context variable: gold commits small tables on a
background thread (``pipeline/gold/committer.py``) and those commits belong to the same run. A
process runs one writing command at a time (the writer lock), so one slot is enough.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

RUN_ID_KEY = "retail.run_id"
COMMAND_KEY = "retail.command"

_current: dict[str, str] = {}


@contextlib.contextmanager
def run_scope(run_id: str, command: str) -> Iterator[None]:
    """Tag every commit made inside the block with ``run_id`` and ``command``."""
    previous = dict(_current)
    _current.clear()
    _current.update({RUN_ID_KEY: run_id, COMMAND_KEY: command})
    try:
        yield
    finally:
        _current.clear()
        _current.update(previous)


def current_metadata(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The metadata of a commit made now: the current run's tags plus ``extra``."""
    return {**_current, **(extra or {})}


def commit_properties(
    extra: dict[str, str] | None = None, transactions: dict[str, int] | None = None
) -> Any:
    """delta-rs ``CommitProperties`` carrying the current run (None outside any run), and the
    Delta transaction identifiers ``transactions`` (app id -> version) committed atomically with
    the data: how a stream's consumed position is stored (decision 0018)."""
    metadata = current_metadata(extra)
    if not metadata and not transactions:
        return None
    from deltalake import CommitProperties, Transaction

    apps = [Transaction(app_id, version) for app_id, version in (transactions or {}).items()]
    return CommitProperties(custom_metadata=metadata or None, app_transactions=apps or None)
