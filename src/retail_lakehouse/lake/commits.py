"""Every Delta commit tied to its run: the one place commit metadata is made.

A writing command runs inside :func:`retail_lakehouse.lake.runs.recorded_run`, which sets the
current run with :func:`tagged`. Every commit of the project (``Lake.write``, ``Lake.delete``,
:func:`retail_lakehouse.lake.staged.commit_staged`, schema changes) opens :func:`commit`, which

- hands back the ``CommitProperties`` to pass to delta-rs: ``custom_metadata`` holds
  ``retail.run_id`` and ``retail.command`` (plus any extra keys), so each row of
  ``DeltaTable.history()`` joins ``meta.runs`` on ``run_id`` (see :func:`run_of`);
- marks the fault-injection points ``before:<table>`` and ``after:<table>``
  (:mod:`retail_lakehouse.lake.faults`).

History, as-of reads and rollback ask "which versions did run R write" through :func:`run_of`.

A commit carrying Delta transaction identifiers (``txn``: a stream's position, decision 0018)
also names them in its metadata (``retail.transactions``): delta-rs reads a ``txn`` back only
by its app id, so :func:`app_ids` finds the ids a table's log holds from its history, and
rollback and backup/restore carry the positions with the data (:func:`app_transactions`).
The current run is a context variable, so it follows the code into threads that copy the
context (the gold committer does) and never leaks between the API's jobs.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retail_lakehouse.lake import faults

if TYPE_CHECKING:
    from retail_lakehouse.lake.store import Lake

RUN_ID_KEY = "retail.run_id"
COMMAND_KEY = "retail.command"
TRANSACTIONS_KEY = "retail.transactions"
"""Commit metadata naming the ``txn`` app ids (and versions) the commit sets."""


@dataclass(frozen=True)
class RunTag:
    """Who is committing: the run id and the command of the current run."""

    run_id: str
    command: str


_CURRENT: contextvars.ContextVar[RunTag | None] = contextvars.ContextVar(
    "retail_current_run", default=None
)


@contextlib.contextmanager
def tagged(run_id: str, command: str) -> Iterator[RunTag]:
    """Make every commit inside the block carry ``run_id`` and ``command``."""
    tag = RunTag(run_id, command)
    token = _CURRENT.set(tag)
    try:
        yield tag
    finally:
        _CURRENT.reset(token)


def current_run() -> RunTag | None:
    """The run whose commits are being made (None outside a recorded run)."""
    return _CURRENT.get()


def commit_metadata(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``custom_metadata`` of a commit: the current run's id and command, plus ``extra``."""
    metadata: dict[str, str] = {}
    tag = _CURRENT.get()
    if tag is not None:
        metadata[RUN_ID_KEY] = tag.run_id
        metadata[COMMAND_KEY] = tag.command
    metadata.update(extra or {})
    return metadata


def commit_properties(
    extra: Mapping[str, str] | None = None, transactions: Mapping[str, int] | None = None
) -> Any:
    """delta-rs ``CommitProperties`` carrying :func:`commit_metadata` (None when empty), and
    the Delta transaction identifiers ``transactions`` (``txn`` app id -> version) committed
    atomically with the data: how a stream's consumed position is stored (decision 0018)."""
    metadata = commit_metadata(extra)
    if transactions:
        metadata[TRANSACTIONS_KEY] = json.dumps(dict(sorted(transactions.items())))
    if not metadata and not transactions:
        return None
    from deltalake import CommitProperties, Transaction

    apps = [Transaction(app_id, version) for app_id, version in (transactions or {}).items()]
    return CommitProperties(custom_metadata=metadata or None, app_transactions=apps or None)


@contextlib.contextmanager
def commit(
    qualified: str,
    extra: Mapping[str, str] | None = None,
    *,
    transactions: Mapping[str, int] | None = None,
) -> Iterator[Any]:
    """Wrap ONE Delta commit to ``qualified``: yields the commit properties to pass to delta-rs,
    with the fault points ``before:<table>`` and ``after:<table>`` around it. ``transactions``
    (``txn`` app id -> version) ride on the same commit (a stream's position)."""
    faults.point(f"before:{qualified}")
    yield commit_properties(extra, transactions)
    faults.point(f"after:{qualified}")


def last_run(lake: Lake, qualified: str) -> str | None:
    """The run that made the latest commit of a table (None: no table, or made outside a run)."""
    table = lake.delta(qualified)
    if table is None:
        return None
    history = table.history(limit=1)
    return run_of(history[0]) if history else None


def run_of(history_row: Mapping[str, Any]) -> str | None:
    """The run id of one ``DeltaTable.history()`` row (None for commits made outside a run)."""
    value = history_row.get(RUN_ID_KEY)
    return value if isinstance(value, str) else None


def app_ids(table: Any) -> set[str]:
    """The ``txn`` app ids a Delta table's commits have set (named in their metadata, see
    :data:`TRANSACTIONS_KEY`), up to the loaded version of ``table``."""
    ids: set[str] = set()
    for row in table.history():
        named = row.get(TRANSACTIONS_KEY)
        if not isinstance(named, str):
            continue
        with contextlib.suppress(ValueError, TypeError):
            ids.update(str(app_id) for app_id in json.loads(named))
    return ids


def app_transactions(table: Any, ids: Iterable[str]) -> dict[str, int]:
    """The ``txn`` version of each app id in the loaded snapshot of ``table`` (ids it does not
    hold are left out)."""
    held = {app_id: table.transaction_version(app_id) for app_id in sorted(ids)}
    return {app_id: int(version) for app_id, version in held.items() if version is not None}
