"""``gold.mart_daily_sales``: one row per sale date and country.

A row exists for every (date, country) with at least one sale or return line; the KPIs follow
:mod:`..definitions` exactly. Lines without a country count under ``Unknown``.

- ``gross_revenue_dod_pct``: ``(gross - previous) / previous * 100`` where ``previous`` is the
  gross revenue of the same country's previous row (its previous trading day, however far
  back); NULL on a country's first day or when the previous gross is 0.
- ``gross_revenue_7d_avg``: the country's gross revenue summed over the 7 calendar days ending on
  ``sale_date`` (days without trading count as 0), divided by 7.

Incremental runs recompute the KPIs only for the (date, country) pairs touched by new lines and
keep the others; the two window columns depend on neighbouring days, so they are recomputed over
the whole (small: days x countries) mart, which is then written as one snapshot.
"""

from __future__ import annotations

from datetime import date, datetime, time

import ibis
import ibis.expr.types as ir

from retail_lakehouse.lake.contracts.gold import MART_DAILY_SALES
from retail_lakehouse.pipeline.gold.definitions import as_float, kpi_aggregates, ratio
from retail_lakehouse.pipeline.gold.frames import conform

GROUP: tuple[str, ...] = ("sale_date", "country")
BASE: tuple[str, ...] = GROUP + (
    "gross_revenue",
    "returns_amount",
    "net_revenue",
    "orders",
    "customers",
    "units",
)
UNKNOWN_COUNTRY = "Unknown"
MOVING_AVERAGE_DAYS = 7


def _with_group(lines: ir.Table) -> ir.Table:
    return lines.mutate(
        sale_date=lines.invoice_ts.date(), country=lines.country.fill_null(UNKNOWN_COUNTRY)
    )


def touched_days(lines: ir.Table) -> ir.Table:
    """The (sale_date, country) pairs of ``lines`` that are sale or return lines."""
    counted = _with_group(lines.filter(lines.is_sale | lines.is_return_line))
    return counted.select(*GROUP).distinct()


def daily_base(fact: ir.Table) -> ir.Table:
    """The KPI sums per (sale_date, country) over fact rows."""
    counted = _with_group(fact.filter(fact.is_sale | fact.is_return_line))
    kpis = kpi_aggregates(counted)
    return _base_columns(
        counted.group_by(list(GROUP)).agg(**{name: kpis[name] for name in BASE[2:]})
    )


def _base_columns(table: ir.Table) -> ir.Table:
    schema = ibis.Schema.from_pyarrow(MART_DAILY_SALES.schema)
    return table.select(*[table[c].cast(schema[c]).name(c) for c in BASE])


def finish(base: ir.Table) -> ir.Table:
    """Add the ratio and window columns to the base rows of every (date, country)."""
    base = base.mutate(day_number=base.sale_date.delta(ibis.date("1970-01-01"), unit="day"))
    previous = base.gross_revenue.lag().over(
        ibis.window(group_by=base.country, order_by=base.sale_date)
    )
    week = ibis.window(
        group_by=base.country, order_by=base.day_number, range=(-(MOVING_AVERAGE_DAYS - 1), 0)
    )
    result = base.mutate(
        avg_order_value=ratio(base.gross_revenue, base.orders),
        gross_revenue_dod_pct=ratio(base.gross_revenue - previous, previous) * 100.0,
        gross_revenue_7d_avg=as_float(base.gross_revenue.sum().over(week))
        / float(MOVING_AVERAGE_DAYS),
    )
    return conform(result, MART_DAILY_SALES)


def build_daily_sales(
    fact: ir.Table,
    touched: ir.Table | None,
    previous: ir.Table | None,
    since: date | None = None,
) -> ir.Table:
    """The whole mart: recomputed ``touched`` pairs (all when None) plus the previous others.

    ``since``, the first touched day, lets the engines read only the fact's row groups from
    that day on (a range on ``invoice_ts``, served from their statistics)."""
    if touched is None or previous is None:
        return finish(daily_base(fact))
    if since is not None:
        fact = fact.filter(fact.invoice_ts >= ibis.timestamp(datetime.combine(since, time())))
    recomputed = daily_base(_with_group(fact).semi_join(touched, list(GROUP)))
    kept = _base_columns(previous).anti_join(touched, list(GROUP))
    return finish(kept.union(recomputed))
