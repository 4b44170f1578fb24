"""Bronze text to typed, standardised silver columns, flags and lineage: one Ibis projection.

The raw text of every business column is kept beside the typed value (``raw_*``) for as long as
the pass runs, so quality rules can tell "missing" from "present but unparseable" and the
quarantine can show what was actually received.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS
from retail_lakehouse.lake.contracts.silver import NON_PRODUCT_STOCK_CODES
from retail_lakehouse.pipeline.silver import parse
from retail_lakehouse.reference import countries

LINEAGE = ("_batch_id", "_batch_seq", "_row_number", "_record_hash", "_source_file")
"""Bronze lineage carried into silver, quarantine and duplicates."""

ADJUSTMENT_DESCRIPTION = "ADJUST BAD DEBT"

_MAX_LINE_AMOUNT = 1e13
"""Above this ``quantity * unit_price`` would overflow decimal(18,4): left NULL instead."""


def raw_name(column: str) -> str:
    """The name under which a business column's original text travels (``raw_quantity``)."""
    return f"raw_{column}"


def country_lookup() -> pa.Table:
    """Reference spellings keyed by lower-cased raw name (unique), with canonical name and ISO2."""
    ref: pa.Table = countries()
    keys = pc.utf8_lower(pc.utf8_trim_whitespace(ref.column("raw_name")))
    table = pa.table(
        {"_country_key": keys, "_country_name": ref.column("name"), "_iso2": ref.column("iso2")}
    )
    # Keep the first row per key (the CSV lists canonical spellings first).
    first: pa.Table = table.group_by("_country_key", use_threads=False).aggregate(
        [("_country_name", "first"), ("_iso2", "first")]
    )
    return first.select(["_country_key", "_country_name_first", "_iso2_first"]).rename_columns(
        ["_country_key", "_country_name", "_iso2"]
    )


def standardise(engine: Engine, bronze: ir.Table) -> ir.Table:
    """Typed business columns, derived amount and flags, raw text and bronze lineage."""
    raw = bronze.select(
        *[bronze[c].cast("string").name(raw_name(c)) for c in RAW_COLUMNS],
        *[bronze[c] for c in LINEAGE],
    )
    quantity_text = parse.clean_text(raw.raw_quantity)
    customer = parse.clean_text(raw.raw_customer_id)
    typed = raw.mutate(
        invoice_no=parse.clean_code(raw.raw_invoice_no),
        stock_code=parse.clean_code(raw.raw_stock_code),
        description=parse.clean_text(raw.raw_description),
        quantity=parse.parse_quantity(quantity_text),
        unit_price=parse.parse_price(raw.raw_unit_price),
        invoice_ts=parse.parse_invoice_ts(engine, parse.clean_text(raw.raw_invoice_date)),
        customer_id=parse.normalise_customer_id(customer),
        _country_text=parse.clean_text(raw.raw_country),
    )
    lookup = engine.arrow_table(country_lookup(), f"silver_country_lookup_{id(typed):x}")
    joined = typed.left_join(lookup, typed._country_text.lower() == lookup._country_key)
    located = joined.mutate(
        country=ibis.coalesce(joined._country_name, joined._country_text),
        country_code=joined._iso2,
    ).drop("_country_key", "_country_name", "_iso2", "_country_text")
    return add_derived(located)


def add_derived(t: ir.Table) -> ir.Table:
    """``line_amount`` and the flags of the contract (never NULL: unknown means False)."""
    exact = t.quantity.cast("decimal(38, 4)") * t.unit_price
    approx = t.quantity.cast("float64") * t.unit_price.cast("float64")
    line_amount = ibis.ifelse(
        approx.abs() < _MAX_LINE_AMOUNT, exact.cast("decimal(18, 4)"), ibis.null("decimal(18, 4)")
    )
    return t.mutate(
        line_amount=line_amount,
        is_cancellation=t.invoice_no.startswith("C").fill_null(False),
        is_return=(t.quantity < 0).fill_null(False),
        is_adjustment=(
            t.invoice_no.startswith("A") | (t.description.upper() == ADJUSTMENT_DESCRIPTION)
        ).fill_null(False),
        is_non_product=t.stock_code.isin(list(NON_PRODUCT_STOCK_CODES)).fill_null(False),
        is_guest=t.customer_id.isnull(),
    )
