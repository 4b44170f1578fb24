"""Commit gold tables in the background while the engine computes the next one.

delta-rs encodes Parquet and commits without holding the GIL, so writing a dimension or a mart
on one thread while DuckDB (or Spark) computes the next table on the main thread overlaps the
two (measured: about a third off a write plus a query of similar size). The commits of files
the engine staged (:meth:`Committer.staged`: reading their footers, the statistics, the Delta
commit; 3-7 ms each, ten in a fresh run) go the same way.

Commits run one at a time, in submission order, and once one has failed none after it runs
(each is skipped): the order of the commits is the order of the calls, whatever the threads do.
:meth:`Committer.wait` re-raises the first failure, so a run still never advances its
watermark past a table that failed to commit. Only Arrow tables and staged files are handed
over: the engine itself is never used from the background thread.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import pyarrow as pa

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.staged import BatchSelection, commit_staged, discard, staged_rows


class Committer:
    """A single background thread committing gold tables in order."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gold-commit")
        self._pending: list[Future[None]] = []
        self._failed = False

    def overwrite(self, qualified: str, data: pa.Table) -> None:
        """Queue ``data`` to replace ``qualified`` (one Delta commit)."""

        def work() -> None:
            self._lake.write(qualified, data, mode="overwrite")

        self._submit(work)

    def staged(
        self,
        qualified: str,
        files: Sequence[Path],
        replace: BatchSelection | None,
        extra: Mapping[str, str] | None = None,
        *,
        written: Callable[[int], None] | None = None,
    ) -> None:
        """Queue the commit of ``files`` (written by the engine, complete) to ``qualified``,
        as :func:`~retail_lakehouse.lake.staged.commit_staged` makes it; ``written`` is then
        called with the rows the files hold (read from their footers)."""
        paths = list(files)

        def work() -> None:
            try:
                rows = staged_rows(paths)
            except BaseException:
                discard(paths)
                raise
            commit_staged(self._lake, qualified, paths, replace, extra)
            if written is not None:
                written(rows)

        self._submit(work)

    def _submit(self, work: Callable[[], None]) -> None:
        # the commit carries the run's id: run it in a copy of the caller's context
        context = contextvars.copy_context()
        self._pending.append(self._pool.submit(context.run, self._in_order, work))

    def _in_order(self, work: Callable[[], None]) -> None:
        if self._failed:
            raise RuntimeError("not committed: an earlier commit of this run failed")
        try:
            work()
        except BaseException:
            self._failed = True
            raise

    def wait(self) -> None:
        """Block until every queued commit is done; raise the first error."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.exception()  # every one finished (or skipped) before raising
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
