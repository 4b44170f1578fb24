"""``gold.dim_invoice``: one row per invoice number.

An invoice can span input batches (a file cut in the middle of one), so incremental runs
recompute the invoices of the new batches from all of their silver lines. Attributes: the
earliest ``invoice_ts`` of its lines, the customer and country (the smallest non-null value if
lines disagree, so every engine agrees), cancellation/adjustment flags (any line), line count.
"""

from __future__ import annotations

import ibis.expr.types as ir

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import arrays
from retail_lakehouse.lake.contracts.gold import DIM_INVOICE
from retail_lakehouse.lake.store import cast_batch
from retail_lakehouse.pipeline.gold.frames import conform
from retail_lakehouse.pipeline.gold.keys import UNKNOWN_KEY, surrogate_key


def invoice_rows(engine: Engine, lines: ir.Table) -> ir.Table:
    """Dimension rows of the invoices present in ``lines``."""
    lines = lines.filter(lines.invoice_no.notnull())
    grouped = lines.group_by("invoice_no").agg(
        invoice_ts=lines.invoice_ts.min(),
        customer_id=lines.customer_id.min(),
        country=lines.country.min(),
        is_cancellation=lines.is_cancellation.fill_null(False).any(),
        is_adjustment=lines.is_adjustment.fill_null(False).any(),
        line_count=lines.count(),
    )
    return conform(
        grouped.mutate(invoice_key=surrogate_key(engine, grouped.invoice_no)), DIM_INVOICE
    )


def build_dim_invoice(
    engine: Engine, silver: ir.Table, affected: ir.Table | None, previous: ir.Table | None
) -> ir.Table:
    """The whole dimension: recomputed ``affected`` invoices (all when None), previous rows of
    the others, and the unknown member."""
    if affected is None or previous is None:
        rows = invoice_rows(engine, silver)
    else:
        recomputed = invoice_rows(engine, silver.semi_join(affected, "invoice_no"))
        kept = previous.filter(previous.invoice_key != UNKNOWN_KEY).anti_join(
            affected, "invoice_no"
        )
        rows = conform(kept, DIM_INVOICE).union(recomputed)
    unknown = engine.arrow_table(
        cast_batch(
            arrays.table(
                {
                    "invoice_key": [UNKNOWN_KEY],
                    "is_cancellation": [False],
                    "is_adjustment": [False],
                    "line_count": [0],
                },
                DIM_INVOICE.schema,
            ),
            DIM_INVOICE,
        ),
        "gold_unknown_invoice",
    )
    return rows.union(conform(unknown, DIM_INVOICE))
