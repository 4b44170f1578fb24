"""One pass over the evaluated lines: count the rule results, split silver from quarantine.

The evaluated lines are streamed once from the engine. Each Arrow batch (not each line) is
tallied with vectorised Arrow compute, its quarantined lines are set aside (in memory, spilling
to a temporary Arrow file when there are many), and the rest flows straight into the
``silver.sales_lines`` Delta writer. When the stream ends, the tally decides the gates: a gate
that fires raises inside the stream, which makes the Delta writer abandon its transaction, so
nothing is committed, exactly as if the gate had been checked first; but the rules ran once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import ipc


class RuleTally:
    """Accumulates, batch by batch, the counts of the summary query (same keys)."""

    def __init__(
        self, fail_columns: Sequence[str], dimensions: Mapping[str, Sequence[str]]
    ) -> None:
        self.fail_columns = list(fail_columns)
        self.dimensions = {k: list(v) for k, v in dimensions.items() if v}
        self.totals: dict[str, int] = {"_lines": 0, "_quarantined": 0, "_score_sum": 0}
        for column in self.fail_columns:
            self.totals[column] = 0
        for dimension in self.dimensions:
            self.totals[f"_dim_{dimension}"] = 0

    def add(self, batch: pa.RecordBatch) -> int:
        """Tally one batch; return how many of its lines are quarantined."""
        self.totals["_lines"] += batch.num_rows
        quarantined = _true_count(batch.column("_quarantined"))
        self.totals["_quarantined"] += quarantined
        score = pc.sum(batch.column("quality_score")).as_py()
        self.totals["_score_sum"] += int(score or 0)
        for column in self.fail_columns:
            self.totals[column] += _true_count(batch.column(column))
        for dimension, columns in self.dimensions.items():
            combined = batch.column(columns[0])
            for column in columns[1:]:
                combined = pc.or_(combined, batch.column(column))
            self.totals[f"_dim_{dimension}"] += _true_count(combined)
        return quarantined


def _true_count(values: pa.Array) -> int:
    count = pc.sum(pc.cast(values, pa.int64())).as_py()
    return int(count or 0)


class SpillBuffer:
    """Arrow batches kept aside in memory, moved to a temporary IPC file past ``limit_bytes``."""

    def __init__(self, schema: pa.Schema, limit_bytes: int = 256 * 1024 * 1024) -> None:
        self.schema = schema
        self.limit_bytes = limit_bytes
        self.rows = 0
        self._batches: list[pa.RecordBatch] = []
        self._bytes = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._path: Path | None = None
        self._writer: ipc.RecordBatchStreamWriter | None = None

    def append(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        if self._writer is not None:
            self._writer.write_batch(batch)
            return
        self._batches.append(batch)
        self._bytes += batch.nbytes
        if self._bytes > self.limit_bytes:
            self._dir = tempfile.TemporaryDirectory(prefix="retail-quarantine-")
            self._path = Path(self._dir.name) / "spill.arrows"
            self._writer = ipc.new_stream(str(self._path), self.schema)
            for kept in self._batches:
                self._writer.write_batch(kept)
            self._batches = []
            self._bytes = 0

    def reader(self) -> pa.RecordBatchReader:
        """Everything appended, as a stream (read back from disk when it spilled)."""
        if self._writer is None:
            return pa.RecordBatchReader.from_batches(self.schema, iter(self._batches))
        self._writer.close()
        self._writer = None
        assert self._path is not None
        source = pa.memory_map(str(self._path))
        return ipc.open_stream(source)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._dir is not None:
            self._dir.cleanup()
        self._batches = []

    def __enter__(self) -> SpillBuffer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def split(
    source: pa.RecordBatchReader,
    *,
    silver_columns: Sequence[str],
    quarantine_columns: Sequence[str],
    tally: RuleTally,
    aside: SpillBuffer,
    finish: Callable[[], None],
) -> pa.RecordBatchReader:
    """Silver lines of ``source`` as a stream; quarantined ones go to ``aside``.

    ``finish`` runs after the last batch, before the stream reports its end: raising there
    aborts the consumer (the Delta writer) so it commits nothing."""
    silver_names = list(silver_columns)
    quarantine_names = list(quarantine_columns)
    schema = pa.schema([source.schema.field(name) for name in silver_names])

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in source:
            kept = batch
            if tally.add(batch):
                flags = batch.column("_quarantined")
                aside.append(batch.filter(flags).select(quarantine_names))
                kept = batch.filter(pc.invert(flags))
            if kept.num_rows:
                yield kept.select(silver_names)
        finish()

    return pa.RecordBatchReader.from_batches(schema, batches())
