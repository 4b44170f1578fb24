"""``gold.fact_sales``: one row per silver line, with keys to all six dimensions.

Keys are looked up in the dimensions just built (which computed them from the natural keys, see
:mod:`.keys`; a hash join with a small dimension is several times cheaper than hashing every
line again); ``customer_key`` is the SCD2 version whose validity contains the line's
``invoice_ts``. Anything unmatched (guests, missing codes) gets the unknown member. The line's
classification from :mod:`.definitions` is stored (``is_sale``, ``is_return_line``), so every KPI
is a plain filtered sum over this table.

The fact is written per input batch: a run replaces exactly the rows of the batches it
processed (``_batch_seq`` predicate, a replaceWhere), never MERGEs into the whole table. When a
late line changes a customer's version history, the earlier batches holding that customer's
lines get new keys, and :func:`rekeyed_batches` finds them so they are rewritten too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from retail_lakehouse.lake.contracts.gold import FACT_SALES
from retail_lakehouse.pipeline.gold.definitions import is_return_line, is_sale_line
from retail_lakehouse.pipeline.gold.frames import conform
from retail_lakehouse.pipeline.gold.keys import (
    UNKNOWN_KEY,
    date_key,
    time_key,
)

_FAR_FUTURE = datetime(9999, 12, 31)


def _known(dim: ir.Table, key: str) -> ir.Table:
    """A dimension without its unknown member (whose label could collide with a real name)."""
    return dim.filter(dim[key] != UNKNOWN_KEY)


def _versions(customers: ir.Table) -> ir.Table:
    """Customer versions with a non-NULL end, so the lookup is a plain range condition (an
    ``OR valid_to IS NULL`` turns DuckDB's hash join into a nested loop)."""
    return customers.filter(customers.customer_id.notnull()).select(
        "customer_id",
        "customer_key",
        "valid_from",
        valid_to=customers.valid_to.fill_null(ibis.literal(_FAR_FUTURE)),
    )


@dataclass(frozen=True)
class Dimensions:
    """The dimensions a fact row is keyed against (the new versions, as engine tables)."""

    customers: ir.Table
    products: ir.Table
    invoices: ir.Table
    countries: ir.Table


def fact_rows(lines: ir.Table, dims: Dimensions, run_id: str) -> ir.Table:
    """Fact rows of the silver ``lines``."""
    versions = _versions(dims.customers).rename(v_customer_id="customer_id")
    products = _known(dims.products, "product_key").select(
        p_stock_code="stock_code", p_key="product_key"
    )
    invoices = _known(dims.invoices, "invoice_key").select(
        i_invoice_no="invoice_no", i_key="invoice_key"
    )
    countries = _known(dims.countries, "country_key").select(
        c_country="country", c_key="country_key"
    )
    joined = (
        lines.left_join(
            versions,
            [
                lines.customer_id == versions.v_customer_id,
                lines.invoice_ts >= versions.valid_from,
                lines.invoice_ts < versions.valid_to,
            ],
        )
        .left_join(products, lines.stock_code == products.p_stock_code)
        .left_join(invoices, lines.invoice_no == invoices.i_invoice_no)
        .left_join(countries, lines.country == countries.c_country)
    )
    keyed = joined.mutate(
        line_key=joined._line_key,
        date_key=date_key(joined.invoice_ts),
        time_key=time_key(joined.invoice_ts),
        product_key=joined.p_key.fill_null(UNKNOWN_KEY),
        customer_key=joined.customer_key.fill_null(UNKNOWN_KEY),
        country_key=joined.c_key.fill_null(UNKNOWN_KEY),
        invoice_key=joined.i_key.fill_null(UNKNOWN_KEY),
        is_sale=is_sale_line(joined),
        is_return_line=is_return_line(joined),
        _run_id=ibis.literal(run_id),
    )
    return conform(keyed, FACT_SALES)


def rekeyed_batches(old_fact: ir.Table, customers: ir.Table) -> ir.Table:
    """Batches of ``old_fact`` holding a line whose ``customer_key`` the new versions change."""
    versions = _versions(customers).rename(
        v_customer_id="customer_id", v_customer_key="customer_key"
    )
    joined = old_fact.left_join(
        versions,
        [
            old_fact.customer_id == versions.v_customer_id,
            old_fact.invoice_ts >= versions.valid_from,
            old_fact.invoice_ts < versions.valid_to,
        ],
    )
    changed = joined.filter(joined.v_customer_key.fill_null(UNKNOWN_KEY) != joined.customer_key)
    return changed.select("_batch_seq").distinct()
