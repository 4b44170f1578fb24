"""``gold.dim_customer``: SCD type 2 on the customer's country.

A customer's lines, ordered by ``invoice_ts``, form versions: a new version starts at the first
instant the country differs from the previous instant's (when one instant carries two countries,
the alphabetically first counts, so every engine agrees). ``valid_from`` is that instant,
``valid_to`` the next version's ``valid_from`` (exclusive), NULL for the current version (a
far-future date such as 9999-12-31 does not fit pandas' nanosecond timestamps, so PySpark and
pandas readers would fail on it);
``version`` counts from 1. The key hashes ``customer_id`` and ``valid_from``, so appending a new
version never changes the keys of older ones. ``first_purchase``/``last_purchase`` are the
customer's first and last sale line (the same on every version row).

Incremental runs recompute every version of the customers in the new batches (from all their
silver lines: a late line can split or move a version) and keep everyone else's rows.
:func:`check_scd2` runs on the whole result before it is committed: exactly one current row per
customer, versions numbered 1..n with contiguous, non-overlapping validity.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import polars as pl
import pyarrow as pa

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake.contracts.gold import DIM_CUSTOMER
from retail_lakehouse.lake.store import cast_batch
from retail_lakehouse.pipeline.errors import PipelineError
from retail_lakehouse.pipeline.gold.definitions import is_sale_line
from retail_lakehouse.pipeline.gold.frames import conform
from retail_lakehouse.pipeline.gold.keys import UNKNOWN_KEY, surrogate_key, ts_key_text

UNKNOWN_VALID_FROM = "1900-01-01"


class SCD2InvariantError(PipelineError):
    """``dim_customer`` would break an SCD2 invariant; nothing was committed."""


def customer_versions(engine: Engine, lines: ir.Table) -> ir.Table:
    """Every SCD2 version of the customers present in ``lines`` (all their lines)."""
    known = lines.filter(lines.customer_id.notnull() & lines.invoice_ts.notnull())
    instants = known.group_by("customer_id", "invoice_ts").agg(country=known.country.min())
    by_time = ibis.window(group_by=instants.customer_id, order_by=instants.invoice_ts)
    marked = instants.mutate(previous=instants.country.fill_null("").lag().over(by_time))
    starts = marked.filter(
        marked.previous.isnull() | (marked.previous != marked.country.fill_null(""))
    )
    by_start = ibis.window(group_by=starts.customer_id, order_by=starts.invoice_ts)
    versions = starts.mutate(
        next_from=starts.invoice_ts.lead().over(by_start),
        version=ibis.row_number().over(by_start) + 1,
    )
    sale = is_sale_line(known)
    purchases = known.group_by("customer_id").agg(
        first_purchase=known.invoice_ts.min(where=sale),
        last_purchase=known.invoice_ts.max(where=sale),
    )
    joined = versions.join(purchases, "customer_id")
    return joined.select(
        customer_key=surrogate_key(engine, joined.customer_id, ts_key_text(joined.invoice_ts)),
        customer_id=joined.customer_id,
        country_key=surrogate_key(engine, joined.country),
        country=joined.country,
        valid_from=joined.invoice_ts,
        valid_to=joined.next_from,
        is_current=joined.next_from.isnull(),
        version=joined.version,
        first_purchase=joined.first_purchase,
        last_purchase=joined.last_purchase,
    )


def build_dim_customer(
    engine: Engine, silver: ir.Table, affected: ir.Table | None, previous: ir.Table | None
) -> ir.Table:
    """The whole dimension: new versions of ``affected`` customers (all when None), previous
    rows of everyone else, and the unknown member (guests)."""
    if affected is None or previous is None:
        rows = conform(customer_versions(engine, silver), DIM_CUSTOMER)
    else:
        recomputed = conform(
            customer_versions(engine, silver.semi_join(affected, "customer_id")), DIM_CUSTOMER
        )
        kept = previous.filter(previous.customer_id.notnull()).anti_join(affected, "customer_id")
        rows = conform(kept, DIM_CUSTOMER).union(recomputed)
    unknown = engine.arrow_table(
        cast_batch(
            pa.table(
                {
                    "customer_key": [UNKNOWN_KEY],
                    "country_key": [UNKNOWN_KEY],
                    "valid_from": pa.array([UNKNOWN_VALID_FROM]).cast(pa.timestamp("us")),
                    "is_current": [True],
                    "version": pa.array([1], pa.int32()),
                }
            ),
            DIM_CUSTOMER,
        ),
        "gold_unknown_customer",
    )
    return rows.union(conform(unknown, DIM_CUSTOMER))


def check_scd2(dim: pa.Table) -> None:
    """Raise :class:`SCD2InvariantError` unless every customer has exactly one current row,
    versions 1..n, and contiguous validity (each version ends where the next begins, the last
    one is current and open-ended). Runs before the dimension is committed."""
    frame = pl.from_arrow(dim)
    assert isinstance(frame, pl.DataFrame)
    rows = frame.filter(pl.col("customer_id").is_not_null()).sort("customer_id", "version")
    problems: list[str] = []
    duplicate_keys = frame.filter(pl.col("customer_key").is_duplicated())
    if duplicate_keys.height:
        problems.append(f"{duplicate_keys.height} rows share a customer_key")
    per_customer = rows.group_by("customer_id").agg(
        current=pl.col("is_current").cast(pl.Int64).sum(),
        n=pl.len(),
        top=pl.col("version").max(),
        distinct=pl.col("version").n_unique(),
    )
    bad = per_customer.filter(
        (pl.col("current") != 1)
        | (pl.col("top") != pl.col("n"))
        | (pl.col("distinct") != pl.col("n"))
    )
    if bad.height:
        sample = ", ".join(bad.get_column("customer_id").head(5).to_list())
        problems.append(f"{bad.height} customers without exactly one current row (e.g. {sample})")
    following = pl.col("valid_from").shift(-1).over("customer_id")
    gaps = rows.filter(
        (pl.col("valid_from") >= pl.col("valid_to")).fill_null(False)
        | (following.is_not_null() & (following != pl.col("valid_to")).fill_null(True))
        | (following.is_null() & (~pl.col("is_current") | pl.col("valid_to").is_not_null()))
        | (following.is_not_null() & pl.col("is_current"))
    )
    if gaps.height:
        sample = ", ".join(gaps.get_column("customer_id").unique().head(5).to_list())
        problems.append(f"{gaps.height} versions overlap or leave gaps (e.g. {sample})")
    if problems:
        raise SCD2InvariantError("dim_customer SCD2 invariant violated: " + "; ".join(problems))
