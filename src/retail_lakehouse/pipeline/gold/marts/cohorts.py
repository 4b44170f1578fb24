"""``gold.mart_cohort_retention``: first-purchase month x months since.

A customer's cohort is the month of their first sale line (guests have no cohort). For every
cohort and every ``months_since`` from 0 to the data's last month, ``active_customers`` counts the
cohort's customers with a sale line in that month, ``cohort_size`` the cohort's customers and
``retention`` = active / size (so months_since 0 is always 1.0). Months without active customers
are rows with 0, so the triangle is complete.

The data's last month moves the triangle's edge for every cohort, so the mart is recomputed in
full on every run with new lines, from ``gold.customer_months`` (the (customer, month) pairs
with a sale line, kept up to date from the new fact rows by :mod:`.customer_summary`), never
from the fact.
"""

from __future__ import annotations

from datetime import date

import ibis.expr.types as ir
import pyarrow as pa

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import arrays
from retail_lakehouse.lake.contracts.gold import MART_COHORT_RETENTION
from retail_lakehouse.pipeline.gold.definitions import ratio
from retail_lakehouse.pipeline.gold.frames import conform
from retail_lakehouse.pipeline.gold.marts.customer_summary import month_rows

_OFFSETS = pa.schema([pa.field("months_since", pa.int32())])


def _month_index(month: ir.DateValue) -> ir.IntegerValue:
    index: ir.IntegerValue = month.year() * 12 + month.month() - 1
    return index


def build_cohorts(engine: Engine, fact: ir.Table, first_month: date, last_month: date) -> ir.Table:
    """The mart over the whole fact; ``first_month``/``last_month`` bound the data."""
    return cohorts_from_months(engine, month_rows(fact), first_month, last_month)


def cohorts_from_months(
    engine: Engine, activity: ir.Table, first_month: date, last_month: date
) -> ir.Table:
    """The mart from ``gold.customer_months`` rows (what a run uses: no pass over the fact)."""
    firsts = activity.group_by("customer_id").agg(cohort_month=activity.month.min())
    sizes = firsts.group_by("cohort_month").agg(cohort_size=firsts.count())
    joined = activity.join(firsts, "customer_id")
    active = joined.group_by(
        "cohort_month",
        months_since=(_month_index(joined.month) - _month_index(joined.cohort_month)).cast("int32"),
    ).agg(active_customers=joined.count())
    span = (last_month.year * 12 + last_month.month) - (first_month.year * 12 + first_month.month)
    offsets = engine.arrow_table(
        arrays.table({"months_since": list(range(span + 1))}, _OFFSETS), "gold_cohort_offsets"
    )
    last_index = last_month.year * 12 + last_month.month - 1
    grid = sizes.cross_join(offsets)
    grid = grid.filter(_month_index(grid.cohort_month) + grid.months_since <= last_index)
    full = grid.left_join(active, ["cohort_month", "months_since"]).select(
        grid.cohort_month,
        grid.months_since,
        grid.cohort_size,
        active_customers=active.active_customers.fill_null(0),
    )
    result = full.mutate(retention=ratio(full.active_customers, full.cohort_size))
    return conform(result, MART_COHORT_RETENTION)
