"""Exact-duplicate detection on the *standardised* business columns.

Two bronze lines are the same sale when every business column is equal after standardisation:
``12/1/2010 8:26`` and ``2010-12-01 08:26:00`` are the same time, ``17850.0`` and ``17850`` the
same customer, ``EIRE`` and ``Ireland`` the same country. The first line (lowest ``_batch_seq``,
then ``_row_number``) is kept; every other one is recorded in ``silver.duplicates`` pointing at
it. Lines already in silver or quarantine from earlier batches win over new ones.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from retail_lakehouse.lake.contracts.silver import BUSINESS_COLUMNS
from retail_lakehouse.pipeline.silver.parse import clean_text
from retail_lakehouse.pipeline.silver.standardise import raw_name

SEPARATOR = "\x1f"
"""ASCII unit separator between key parts: cannot occur in trimmed CSV/Excel text."""

_PARSED = {"quantity": "quantity", "unit_price": "unit_price", "invoice_ts": "invoice_date"}
"""Columns that may be NULL because their text did not parse: their raw text joins the key, so
two lines with different garbage are not merged into one."""


def _key_part(t: ir.Table, column: str) -> ir.StringValue:
    value = t[column]
    if column == "invoice_ts":
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif column in _PARSED:
        text = value.cast("string")
    else:
        text = value
    if column in _PARSED:
        fallback = ibis.literal("?") + clean_text(t[raw_name(_PARSED[column])]).fill_null("")
        result: ir.StringValue = text.fill_null(fallback)
        return result
    result = text.fill_null("")
    return result


def line_key(t: ir.Table) -> ir.StringValue:
    """SHA-256 (hex) of the standardised business columns: identical on every engine."""
    parts = [_key_part(t, c) for c in BUSINESS_COLUMNS]
    joined: ir.StringValue = ibis.literal(SEPARATOR).join(parts)
    key: ir.StringValue = joined.hexdigest("sha256")
    return key


def mark_duplicates(lines: ir.Table, existing: ir.Table | None) -> ir.Table:
    """Add ``_is_duplicate``, ``kept_batch_seq`` and ``kept_row_number`` to ``lines``.

    ``lines`` must carry ``_line_key``; ``existing`` (``_line_key``, ``_batch_seq``,
    ``_row_number`` of lines already kept from earlier batches) may be None when there are none.
    The window orders by the full lineage key, so every engine keeps the same line."""
    window = ibis.window(group_by=lines._line_key, order_by=[lines._batch_seq, lines._row_number])
    ranked = lines.mutate(
        _rank=ibis.row_number().over(window),
        _first_seq=lines._batch_seq.first().over(window),
        _first_row=lines._row_number.first().over(window),
    )
    if existing is None:
        return ranked.mutate(
            _is_duplicate=ranked._rank > 0,
            kept_batch_seq=ranked._first_seq,
            kept_row_number=ranked._first_row,
        ).drop("_rank", "_first_seq", "_first_row")
    earlier = existing.group_by("_line_key").aggregate(
        _old_seq=existing._batch_seq.min(), _old_row=existing._row_number.min()
    )
    joined = ranked.left_join(earlier, ranked._line_key == earlier._line_key)
    joined = joined.drop("_line_key_right")
    seen = joined._old_seq.notnull()
    return joined.mutate(
        _is_duplicate=seen | (joined._rank > 0),
        kept_batch_seq=ibis.ifelse(seen, joined._old_seq, joined._first_seq),
        kept_row_number=ibis.ifelse(seen, joined._old_row, joined._first_row),
    ).drop("_rank", "_first_seq", "_first_row", "_old_seq", "_old_row")
