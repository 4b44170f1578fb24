"""Work ahead in background threads: chunks of a file are independent until they are written,
so :func:`ordered_map` parses several at once (Polars releases the GIL while it works) while the
writer consumes them in file order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

_In = TypeVar("_In")
_Out = TypeVar("_Out")

WORKERS = 2
"""Threads per parallel step: the machine's two cores (Polars and DuckDB release the GIL)."""


def ordered_map(
    function: Callable[[_In], _Out], items: Iterable[_In], workers: int = WORKERS
) -> Iterator[_Out]:
    """``function`` over ``items`` on ``workers`` threads, results in the items' order.

    At most ``workers`` items are in flight, so memory stays bounded however long the input;
    an error is raised where its result would have been yielded."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ordered-map") as pool:
        pending: deque[Future[_Out]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
