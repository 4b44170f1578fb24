"""Exact-duplicate detection on the *standardised* business columns.

Two bronze lines are the same sale when every business column is equal after standardisation:
``12/1/2010 8:26`` and ``2010-12-01 08:26:00`` are the same time, ``17850.0`` and ``17850`` the
same customer, ``EIRE`` and ``Ireland`` the same country. ``_line_key`` is the first 64 bits of
the MD5 of those columns, as an int64 (identical on every engine, and half the cost of SHA-256
on the hot path; it identifies lines, it protects nothing); the first line of a key (lowest
``_batch_seq``, then ``_source_file``, then ``_row_number``) is kept and every other one is
recorded in ``silver.duplicates`` pointing at it. ``_source_file`` is part of a line's identity
because a workbook's sheets share a batch and number their rows each from 1: the same line at
the same row of two sheets was two candidates with one identity, so removing the duplicate
removed the kept line as well (the accounting identity caught it), and which sheet's line was
kept was up to the engine.
Lines already kept by earlier batches (in silver or quarantine) win over new ones.

Duplicates are rare (about 1% of lines), so they are found with a grouped count first and only
the few lines of duplicated keys are ranked: no window over the whole batch.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from retail_lakehouse.lake.contracts.silver import BUSINESS_COLUMNS

SEPARATOR = "\x1f"
"""ASCII unit separator between key parts: cannot occur in trimmed CSV/Excel text."""

_PARSED = {
    "quantity": "raw_quantity",
    "unit_price": "raw_unit_price",
    "invoice_ts": "raw_invoice_date",
}
"""Columns that may be NULL because their text did not parse: their raw text joins the key, so
two lines with different garbage are not merged into one."""


def _key_part(t: ir.Table, column: str) -> ir.StringValue:
    value = t[column]
    if column == "invoice_ts":
        # whole seconds since the epoch, as text: the same on every engine (a plain cast prints
        # differently on Spark) and a fifth of the cost of strftime on the hot path
        text = value.epoch_seconds().cast("int64").cast("string")
    elif column in _PARSED:
        text = value.cast("string")
    else:
        text = value
    if column in _PARSED and _PARSED[column] in t.columns:
        fallback = ibis.literal("?") + t[_PARSED[column]].fill_null("")
        result: ir.StringValue = text.fill_null(fallback)
        return result
    result = text.fill_null("")
    return result


def line_key(t: ir.Table) -> ir.StringValue:
    """MD5 (hex) of the standardised business columns: identical on every engine. Silver
    stores its first 64 bits as an int64 (``pipeline.hashing.int64_from_hex``)."""
    parts = [_key_part(t, c) for c in BUSINESS_COLUMNS]
    joined: ir.StringValue = ibis.literal(SEPARATOR).join(parts)
    key: ir.StringValue = joined.hexdigest("md5")
    return key


def find_duplicates(lines: ir.Table, existing: ir.Table | None) -> ir.Table:
    """Every line of ``lines`` that repeats an earlier line, with the line that was kept.

    Both inputs carry ``_line_key``, ``_batch_seq``, ``_source_file`` and ``_row_number`` (and
    any other columns to pass through, the same in both); ``existing`` holds the lines kept by
    earlier batches (None when there are none). Returns those columns plus ``kept_batch_seq``,
    ``kept_row_number`` and ``kept_source_file`` (the kept line's sheet, for
    ``silver.duplicates``: the reason the earlier lines' ``_source_file`` is read). The ranking
    orders by the full lineage key, so every engine keeps the same line."""
    universe = lines
    if existing is not None:
        earlier = existing.select(*lines.columns)
        universe = universe.union(earlier.semi_join(universe, "_line_key"))
    repeated = (
        universe.group_by("_line_key")
        .aggregate(_n=universe.count())
        .filter(lambda g: g._n > 1)
        .select("_line_key")
    )
    candidates = universe.semi_join(repeated, "_line_key")
    window = ibis.window(
        group_by=candidates._line_key,
        order_by=[candidates._batch_seq, candidates._source_file, candidates._row_number],
    )
    ranked = candidates.mutate(
        _rank=ibis.row_number().over(window),
        kept_batch_seq=candidates._batch_seq.first().over(window),
        kept_row_number=candidates._row_number.first().over(window),
        kept_source_file=candidates._source_file.first().over(window),
    )
    return ranked.filter(ranked._rank > 0).drop("_rank")
