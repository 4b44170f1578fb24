"""Which bronze batches write dates day first or prices with a decimal comma.

Ingest decides each file's conventions and records them in ``bronze.files``
(:mod:`retail_lakehouse.sources.formats`); silver reads those few rows once per pass and turns
them into per-line conditions on ``_batch_seq``. A pass whose files are all month first with a
decimal point (the UCI convention) gets no condition at all, so the common case costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa

COLUMNS = ["_batch_seq", "date_order", "decimal_separator"]
"""The ``bronze.files`` columns silver reads (lakes from before them read as month first, '.')."""


@dataclass(frozen=True)
class PassFormats:
    """The batches of a pass that differ from month first and decimal point."""

    day_first: tuple[int, ...] = ()
    decimal_comma: tuple[int, ...] = ()

    @classmethod
    def from_manifest(cls, files: pa.Table | None, batches: list[int]) -> PassFormats:
        """From rows of ``bronze.files`` (any subset of :data:`COLUMNS`)."""
        if files is None:
            return cls()
        wanted = set(batches)
        names = files.column_names
        rows = files.select([c for c in COLUMNS if c in names]).to_pylist()
        return cls(
            tuple(
                sorted(
                    r["_batch_seq"]
                    for r in rows
                    if r["_batch_seq"] in wanted and r.get("date_order") == "dmy"
                )
            ),
            tuple(
                sorted(
                    r["_batch_seq"]
                    for r in rows
                    if r["_batch_seq"] in wanted and r.get("decimal_separator") == ","
                )
            ),
        )

    def day_first_lines(self, batch_seq: ir.IntegerValue) -> ir.BooleanValue | None:
        """TRUE on lines of a day-first file; None when the pass has none."""
        return _member(batch_seq, self.day_first)

    def decimal_comma_lines(self, batch_seq: ir.IntegerValue) -> ir.BooleanValue | None:
        """TRUE on lines of a decimal-comma file; None when the pass has none."""
        return _member(batch_seq, self.decimal_comma)


def _member(batch_seq: ir.IntegerValue, batches: tuple[int, ...]) -> ir.BooleanValue | None:
    if not batches:
        return None
    if len(batches) == 1:
        single: ir.BooleanValue = batch_seq == ibis.literal(batches[0], "int64")
        return single
    result: ir.BooleanValue = batch_seq.isin(list(batches))
    return result
