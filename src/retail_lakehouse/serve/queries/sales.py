"""Sales figures from the gold marts, with the gold definitions.

Sums (revenue, returns, units) come from ``mart_daily_sales`` so they always equal what the
mart says. Orders and customers are distinct counts over the whole period
(``pipeline.gold.definitions.KPI_SQL``), which cannot be added up from daily rows, so they come
from the snapshot's key tables (see :mod:`..readers`): counts made in advance for whole days,
whole months and all time, or a count over ``sale_keys`` for other periods.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

from retail_lakehouse.serve.filters import Grouping, Paging, Period, SalesSort, period_where
from retail_lakehouse.serve.models import CountrySales, Kpis
from retail_lakehouse.serve.readers import Snapshot

_SUMS = """
    coalesce(sum(gross_revenue), 0) AS gross_revenue,
    coalesce(sum(returns_amount), 0) AS returns_amount,
    coalesce(sum(net_revenue), 0) AS net_revenue,
    coalesce(sum(units), 0) AS units
"""
_COUNTED = "count(DISTINCT invoice) AS orders, count(DISTINCT customer) AS customers"
_AVG = """CASE WHEN c.orders > 0 THEN round(CAST(m.gross_revenue AS DOUBLE) / c.orders, 4) END
       AS avg_order_value"""
_COUNTS = "coalesce(c.orders, 0) AS orders, coalesce(c.customers, 0) AS customers"
_COUNTRY_IS = (  # the row for the requested country, or the all-countries row when none is
    "(CASE WHEN CAST($country AS VARCHAR) IS NULL THEN all_countries "
    "ELSE NOT all_countries AND country = CAST($country AS VARCHAR) END)"
)
_DAILY_FIELDS = """
    sale_date, country, gross_revenue, returns_amount, net_revenue, orders, customers, units,
    avg_order_value,
    CASE WHEN isfinite(gross_revenue_dod_pct) THEN gross_revenue_dod_pct END
        AS gross_revenue_dod_pct,
    gross_revenue_7d_avg
"""
_MONTHS_IN = (
    "(CAST($start AS DATE) IS NULL OR month >= CAST($start AS DATE)) "
    "AND (CAST($end AS DATE) IS NULL OR month <= CAST($end AS DATE))"
)


def whole_months(period: Period) -> bool:
    """True when the period starts on a 1st and ends on a month's last day (or is open)."""
    starts = period.start is None or period.start.day == 1
    # 9999-12-31 ends a month too: the day after it is past the calendar (OverflowError, a 500)
    ends = period.end is None or period.end == date.max or (period.end + timedelta(days=1)).day == 1
    return starts and ends


def _counted(keys: str = "") -> str:
    """Distinct orders and customers per ``keys`` over the period, from ``sale_keys``."""
    select = f"{keys}, " if keys else ""
    group = " GROUP BY ALL" if keys else ""
    return (
        f"SELECT {select}{_COUNTED} FROM serve_mem.sale_keys "
        f"WHERE {period_where('sale_date')}{group}"
    )


def kpis(snapshot: Snapshot, period: Period) -> Kpis:
    if period.start is None and period.end is None:
        counts = f"SELECT orders, customers FROM serve_mem.counts_by_country WHERE {_COUNTRY_IS}"
    else:
        counts = _counted()
    row = snapshot.scalar_row(
        f"""
        WITH m AS (SELECT {_SUMS} FROM gold.mart_daily_sales WHERE {period_where("sale_date")}),
        c AS ({counts})
        SELECT m.*, {_COUNTS}, {_AVG}
        FROM m LEFT JOIN c ON true
        """,
        period.params(),
    )
    return Kpis.model_validate(row)


def _rows_sql(key: str, key_expr: str, grouping: Grouping, counts: str) -> str:
    """Mart sums per ``key`` (and country) joined with ``counts`` (same keys)."""
    by_country = grouping is Grouping.country
    keys = f"{key_expr} AS {key}" + (", country" if by_country else "")
    group = key + (", country" if by_country else "")
    country = "" if by_country else ", CAST(NULL AS VARCHAR) AS country"
    return f"""
        WITH m AS (
            SELECT {keys}, {_SUMS} FROM gold.mart_daily_sales
            WHERE {period_where("sale_date")} GROUP BY ALL
        ),
        c AS ({counts})
        SELECT {group}{country}, m.gross_revenue, m.returns_amount, m.net_revenue, m.units,
               {_COUNTS}, {_AVG}
        FROM m LEFT JOIN c USING ({group})
    """


def _page(
    snapshot: Snapshot,
    rows_sql: str,
    period: Period,
    paging: Paging,
    sort: SalesSort,
    date_column: str,
) -> bytes:
    """One page of ``rows_sql`` as the JSON of a :class:`Page`, rows serialised by DuckDB.

    ``rows_sql`` selects exactly the row model's fields; doubles that are not finite become
    null (JSON has no NaN)."""
    params = {**period.params(), **paging.params()}
    rows, total = snapshot.json_page(rows_sql, sort.order_by(date_column), params)
    head = {
        "page": paging.page,
        "page_size": paging.page_size,
        "total_rows": total,
        "total_pages": math.ceil(total / paging.page_size) if total else 0,
        "sort": sort.value,
    }
    return (
        b'{"rows":['
        + b",".join(rows)
        + b"],"
        + json.dumps(head, separators=(",", ":")).encode()[1:]
    )


def daily(
    snapshot: Snapshot, period: Period, paging: Paging, sort: SalesSort, grouping: Grouping
) -> bytes:
    """A page of daily rows, as the JSON of ``Page[DailySales]``."""
    if grouping is Grouping.country:
        rows_sql = (
            f"SELECT {_DAILY_FIELDS} FROM gold.mart_daily_sales WHERE {period_where('sale_date')}"
        )
    else:  # whole days, so the counts made in advance always apply
        counts = (
            f"SELECT sale_date, orders, customers FROM serve_mem.counts_by_day WHERE {_COUNTRY_IS}"
        )
        rows_sql = (
            "SELECT *, CAST(NULL AS DOUBLE) AS gross_revenue_dod_pct, "
            "CAST(NULL AS DOUBLE) AS gross_revenue_7d_avg FROM ("
            + _rows_sql("sale_date", "sale_date", grouping, counts)
            + ")"
        )
    return _page(snapshot, rows_sql, period, paging, sort, "sale_date")


def monthly(
    snapshot: Snapshot, period: Period, paging: Paging, sort: SalesSort, grouping: Grouping
) -> bytes:
    """A page of monthly roll-ups, as the JSON of ``Page[MonthlySales]``."""
    month = "CAST(date_trunc('month', sale_date) AS DATE)"
    by_country = grouping is Grouping.country
    if whole_months(period):
        which = (
            "NOT all_countries AND (CAST($country AS VARCHAR) IS NULL "
            "OR country = CAST($country AS VARCHAR))"
            if by_country
            else _COUNTRY_IS
        )
        counts = (
            f"SELECT month{', country' if by_country else ''}, orders, customers "
            f"FROM serve_mem.counts_by_month WHERE {_MONTHS_IN} AND {which}"
        )
    else:
        counts = _counted(f"{month} AS month" + (", country" if by_country else ""))
    rows_sql = _rows_sql("month", month, grouping, counts)
    return _page(snapshot, rows_sql, period, paging, sort, "month")


def by_country(snapshot: Snapshot, period: Period) -> list[CountrySales]:
    if period.start is None and period.end is None:
        counts = (
            "SELECT country, orders, customers FROM serve_mem.counts_by_country "
            "WHERE NOT all_countries"
        )
    else:
        counts = _counted("country")
    rows = snapshot.rows(
        f"""
        WITH m AS (
            SELECT country, {_SUMS} FROM gold.mart_daily_sales
            WHERE {period_where("sale_date")} GROUP BY country
        ),
        c AS ({counts})
        SELECT m.country, m.gross_revenue, m.returns_amount, m.net_revenue, m.units, {_COUNTS},
               coalesce(m.gross_revenue / nullif(sum(m.gross_revenue) OVER (), 0), 0)
                   AS revenue_share
        FROM m LEFT JOIN c USING (country)
        ORDER BY m.gross_revenue DESC, m.country
        """,
        period.params(),
    )
    return [CountrySales.model_validate(r) for r in rows]
