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
:func:`check_scd2_on` runs on the result, where the engine built it, before it is committed:
exactly one current row per customer, versions numbered 1..n with contiguous, non-overlapping
validity (on an append, for the recomputed customers; keys unique over the whole dimension).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retail_lakehouse.engines import Engine
from retail_lakehouse.lake import arrays
from retail_lakehouse.lake.contracts.gold import DIM_CUSTOMER
from retail_lakehouse.lake.store import cast_batch
from retail_lakehouse.pipeline.errors import PipelineError
from retail_lakehouse.pipeline.gold.definitions import is_sale_line
from retail_lakehouse.pipeline.gold.frames import conform
from retail_lakehouse.pipeline.gold.keys import UNKNOWN_KEY, surrogate_key, ts_key_text

UNKNOWN_VALID_FROM = "1900-01-01"


class SCD2InvariantError(PipelineError):
    """``dim_customer`` would break an SCD2 invariant; nothing was committed."""


def _instants(lines: ir.Table) -> tuple[ir.Table, ir.Table]:
    """``lines``' instants per customer (the alphabetically first country of each) and their
    first and last sale."""
    known = lines.filter(lines.customer_id.notnull() & lines.invoice_ts.notnull())
    instants = known.group_by("customer_id", "invoice_ts").agg(country=known.country.min())
    sale = is_sale_line(known)
    purchases = known.group_by("customer_id").agg(
        first_purchase=known.invoice_ts.min(where=sale),
        last_purchase=known.invoice_ts.max(where=sale),
    )
    return instants, purchases


def customer_versions(engine: Engine, lines: ir.Table) -> ir.Table:
    """Every SCD2 version of the customers present in ``lines`` (all their lines)."""
    instants, purchases = _instants(lines)
    return _versions(engine, instants.mutate(_base=ibis.literal(0)), purchases)


def _versions(engine: Engine, instants: ir.Table, purchases: ir.Table) -> ir.Table:
    """Versions from ``instants`` (customer, instant, country, ``_base``: the number of the
    versions before the first instant); ``purchases`` gives each customer's first and last."""
    by_time = ibis.window(group_by=instants.customer_id, order_by=instants.invoice_ts)
    marked = instants.mutate(previous=instants.country.fill_null("").lag().over(by_time))
    starts = marked.filter(
        marked.previous.isnull() | (marked.previous != marked.country.fill_null(""))
    )
    by_start = ibis.window(group_by=starts.customer_id, order_by=starts.invoice_ts)
    versions = starts.mutate(
        next_from=starts.invoice_ts.lead().over(by_start),
        version=ibis.row_number().over(by_start) + 1 + starts._base,
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


def later_versions(engine: Engine, new_lines: ir.Table, previous: ir.Table) -> ir.Table:
    """The dimension's rows (but the unknown member) after ``new_lines``, when each of them is later
    than every line ``previous`` (the dimension so far) was built from: a customer's versions
    can then only continue after its current one, so they come from that current version (its
    start and country, as an instant) and the new lines, without the customer's earlier lines.
    Earlier versions keep their rows, with the first and last purchase brought up to date."""
    instants, purchases = _instants(new_lines)
    touched = previous.filter(previous.customer_id.notnull()).semi_join(instants, "customer_id")
    current = touched.filter(touched.is_current)
    seeds = current.select("customer_id", invoice_ts=current.valid_from, country=current.country)
    bases = current.select("customer_id", _base=current.version - 1)
    every = instants.union(seeds)
    based = every.left_join(bases, "customer_id").select(
        every.customer_id,
        every.invoice_ts,
        every.country,
        _base=bases._base.fill_null(0),
    )
    before = current.select(
        "customer_id", _first=current.first_purchase, _last=current.last_purchase
    )
    both = purchases.left_join(before, "customer_id")
    spans = both.select(  # every new line is later: the old first and the new last stand
        purchases.customer_id,
        first_purchase=both._first.coalesce(both.first_purchase),
        last_purchase=both.last_purchase.coalesce(both._last),
    )
    continued = _versions(engine, based, spans)
    earlier = touched.filter(~touched.is_current).drop("first_purchase", "last_purchase")
    earlier = earlier.join(spans, "customer_id")
    others = previous.filter(previous.customer_id.notnull()).anti_join(instants, "customer_id")
    return (
        conform(others, DIM_CUSTOMER)
        .union(conform(earlier, DIM_CUSTOMER))
        .union(conform(continued, DIM_CUSTOMER))
    )


def build_dim_customer(
    engine: Engine,
    silver: ir.Table,
    affected: ir.Table | None,
    previous: ir.Table | None,
    *,
    new_lines: ir.Table | None = None,
) -> ir.Table:
    """The whole dimension: new versions of ``affected`` customers (all when None), previous
    rows of everyone else, and the unknown member (guests). ``new_lines``, given when every
    new line is later than every earlier one, are continued from ``previous`` by
    :func:`later_versions` instead of reading those customers' earlier lines."""
    if affected is None or previous is None:
        rows = conform(customer_versions(engine, silver), DIM_CUSTOMER)
    elif new_lines is not None:
        rows = later_versions(engine, new_lines, previous)
    else:
        recomputed = conform(
            customer_versions(engine, silver.semi_join(affected, "customer_id")), DIM_CUSTOMER
        )
        kept = previous.filter(previous.customer_id.notnull()).anti_join(affected, "customer_id")
        rows = conform(kept, DIM_CUSTOMER).union(recomputed)
    unknown = engine.arrow_table(
        cast_batch(
            arrays.table(
                {
                    "customer_key": [UNKNOWN_KEY],
                    "country_key": [UNKNOWN_KEY],
                    "valid_from": [datetime.fromisoformat(UNKNOWN_VALID_FROM)],
                    "is_current": [True],
                    "version": [1],
                },
                DIM_CUSTOMER.schema,
            ),
            DIM_CUSTOMER,
        ),
        "gold_unknown_customer",
    )
    return rows.union(conform(unknown, DIM_CUSTOMER))


def scd2_problems(
    dim: ir.Table, run: Callable[[ir.Table], pa.Table], only: ir.Table | None = None
) -> list[str]:
    """What breaks an SCD2 invariant in ``dim`` (empty when nothing does): every customer has
    exactly one current row, versions 1..n, and contiguous validity (each version ends where
    the next begins, the last one is current and open-ended); no two rows share a key.

    The checks are Ibis expressions that ``run`` executes (the engine's own ``to_arrow``), so
    the dimension is checked where it was built (on Spark by the executors) and only counts
    and a few example ids come back: the dimension grows with the customers.

    ``only`` (customer ids) limits the per-customer checks to those customers: an append's
    run passes the customers it recomputed, the others' rows being the previous, checked ones;
    key uniqueness is always checked over the whole dimension."""
    problems: list[str] = []
    keys = run(dim.aggregate(n=dim.count(), keys=dim.customer_key.nunique())).to_pylist()[0]
    if (keys["n"] or 0) != (keys["keys"] or 0):
        problems.append(f"{int(keys['n']) - int(keys['keys'])} rows share a customer_key")
    rows = dim.filter(dim.customer_id.notnull())
    if only is not None:
        rows = rows.semi_join(only, "customer_id")
    per_customer = rows.group_by("customer_id").agg(
        current=rows.is_current.cast("int64").sum(),
        n=rows.count(),
        top=rows.version.max(),
        versions=rows.version.nunique(),
    )
    bad = per_customer.filter(
        (per_customer.current != 1)
        | (per_customer.top != per_customer.n)
        | (per_customer.versions != per_customer.n)
    )
    problems += _counted(
        run, bad.select("customer_id"), "customers without exactly one current row"
    )
    by_version = ibis.window(group_by=rows.customer_id, order_by=[rows.version, rows.valid_from])
    ordered = rows.mutate(following=rows.valid_from.lead().over(by_version))
    following, valid_to, current = ordered.following, ordered.valid_to, ordered.is_current
    gaps = ordered.filter(
        (ordered.valid_from >= valid_to).fill_null(False)
        | (following.notnull() & (valid_to.isnull() | (following != valid_to)))
        | (following.isnull() & (~current | valid_to.notnull()))
        | (following.notnull() & current)
    )
    problems += _counted(
        run, gaps.select("customer_id").distinct(), "customers whose versions overlap or leave gaps"
    )
    return problems


def _counted(run: Callable[[ir.Table], pa.Table], ids: ir.Table, what: str) -> list[str]:
    """``["<n> <what> (e.g. a, b)"]`` when ``ids`` has rows, else ``[]``."""
    n = int(run(ids.aggregate(n=ids.count())).column("n")[0].as_py() or 0)
    if not n:
        return []
    sample = run(ids.order_by("customer_id").limit(5)).column("customer_id").to_pylist()
    return [f"{n} {what} (e.g. {', '.join(str(v) for v in sample)})"]


def check_scd2_on(engine: Engine, dim: ir.Table, only: ir.Table | None = None) -> None:
    """Raise :class:`SCD2InvariantError` when :func:`scd2_problems` finds any, checked by
    ``engine`` where the dimension lives. Runs before the dimension is committed."""
    problems = scd2_problems(dim, engine.to_arrow, only)
    if problems:
        raise SCD2InvariantError("dim_customer SCD2 invariant violated: " + "; ".join(problems))


def check_scd2(dim: pa.Table) -> None:
    """The same check on a dimension already in memory (a committed snapshot), by an embedded
    DuckDB over the Arrow table."""
    con = ibis.duckdb.connect()
    try:
        problems = scd2_problems(ibis.memtable(dim), con.to_pyarrow)
    finally:
        con.disconnect()
    if problems:
        raise SCD2InvariantError("dim_customer SCD2 invariant violated: " + "; ".join(problems))
