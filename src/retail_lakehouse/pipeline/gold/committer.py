"""Commit small tables in the background while the engine computes the next one.

delta-rs encodes Parquet and commits without holding the GIL, so writing a dimension or a mart
on one thread while DuckDB (or Spark) computes the next table on the main thread overlaps the
two (measured: about a third off a write plus a query of similar size). Commits run one at a
time, in submission order, and :meth:`Committer.wait` re-raises the first failure, so a run
still never advances its watermark past a table that failed to commit. Only Arrow tables are
handed over: the engine itself is never used from the background thread.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import pyarrow as pa

from retail_lakehouse.lake import Lake


class Committer:
    """A single background thread committing whole-table overwrites in order."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gold-commit")
        self._pending: list[Future[int]] = []

    def overwrite(self, qualified: str, data: pa.Table) -> None:
        """Queue ``data`` to replace ``qualified`` (one Delta commit)."""
        # the commit carries the run's id: run it in a copy of the caller's context
        context = contextvars.copy_context()
        self._pending.append(
            self._pool.submit(context.run, self._lake.write, qualified, data, mode="overwrite")
        )

    def wait(self) -> None:
        """Block until every queued commit is done; raise the first error."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        # Never leave a commit running after the caller has gone (the writer lock is released
        # when the run ends); errors of an already failing run are not worth masking it.
        for future in self._pending:
            future.exception()
        self._pending = []
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Committer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.wait()
        self.close()
