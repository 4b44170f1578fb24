"""Work ahead in background threads, so producing, transforming and writing overlap.

The engines (and the source parsers) build Arrow batches in the thread that reads them, and the
Delta writer encodes Parquet in the thread that feeds it; reading ahead lets the two run at the
same time instead of taking turns (both release the GIL while they work). Chunks of a file are
independent until they are written, so :func:`ordered_map` parses several at once.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import pyarrow as pa

_DONE = object()
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


def prefetch(source: pa.RecordBatchReader, depth: int = 2) -> pa.RecordBatchReader:
    """Read ``source`` in a background thread, ``depth`` batches ahead; errors are re-raised in
    the consumer, and a consumer that stops early stops the thread."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in source:
                while not stop.is_set():
                    try:
                        slots.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as error:  # handed to the consumer
            slots.put(error)

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            while True:
                item = slots.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, pa.RecordBatch)
                yield item
        finally:
            stop.set()
            worker.join(timeout=5)

    return pa.RecordBatchReader.from_batches(source.schema, batches())
