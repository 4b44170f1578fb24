"""Read an Arrow stream ahead in a background thread, so producing and writing overlap.

The engines (and the source parsers) build Arrow batches in the thread that reads them, and the
Delta writer encodes Parquet in the thread that feeds it; reading ahead lets the two run at the
same time instead of taking turns (both release the GIL while they work).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pyarrow as pa

_DONE = object()


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
