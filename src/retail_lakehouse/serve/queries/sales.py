"""Sales figures from the gold marts, with the gold definitions.

Sums (revenue, returns, units) come from ``mart_daily_sales`` so they always equal what the
mart says; distinct counts (orders, customers) come from the snapshot's ``sale_orders`` (one
row per day, country and invoice of sale lines in ``fact_sales``), because adding up daily
distinct counts would count a returning customer once per day.
"""

from __future__ import annotations

import math
from typing import Any

from retail_lakehouse.serve.filters import Grouping, Paging, Period, SalesSort, period_where
from retail_lakehouse.serve.models import (
    CountrySales,
    DailySales,
    Kpis,
    MonthlySales,
    Page,
)
from retail_lakehouse.serve.readers import Snapshot

_SUMS = """
    coalesce(sum(gross_revenue), 0) AS gross_revenue,
    coalesce(sum(returns_amount), 0) AS returns_amount,
    coalesce(sum(net_revenue), 0) AS net_revenue,
    coalesce(sum(units), 0) AS units
"""
_DISTINCT = "count(DISTINCT invoice_no) AS orders, count(DISTINCT customer_id) AS customers"


def kpis(snapshot: Snapshot, period: Period) -> Kpis:
    row = snapshot.scalar_row(
        f"""
        WITH m AS (SELECT {_SUMS} FROM gold.mart_daily_sales WHERE {period_where("sale_date")}),
        o AS (SELECT {_DISTINCT} FROM serve_mem.sale_orders WHERE {period_where("sale_date")})
        SELECT m.*, o.*,
               CASE WHEN o.orders > 0
                    THEN round(CAST(m.gross_revenue AS DOUBLE) / o.orders, 4) END
                   AS avg_order_value
        FROM m, o
        """,
        period.params(),
    )
    return Kpis.model_validate(row)


def _grouped(key: str, key_expr: str, grouping: Grouping) -> str:
    """Mart sums joined with exact distinct counts, per ``key`` (and per country)."""
    by_country = grouping is Grouping.country
    keys = f"{key_expr} AS {key}" + (", country" if by_country else "")
    group = f"{key}" + (", country" if by_country else "")
    join = f"USING ({group})"
    return f"""
        WITH m AS (
            SELECT {keys}, {_SUMS} FROM gold.mart_daily_sales
            WHERE {period_where("sale_date")} GROUP BY ALL
        ),
        o AS (
            SELECT {keys}, {_DISTINCT} FROM serve_mem.sale_orders
            WHERE {period_where("sale_date")} GROUP BY ALL
        )
        SELECT {group}{"" if by_country else ", CAST(NULL AS VARCHAR) AS country"},
               m.gross_revenue, m.returns_amount, m.net_revenue, m.units,
               coalesce(o.orders, 0) AS orders, coalesce(o.customers, 0) AS customers,
               CASE WHEN o.orders > 0
                    THEN round(CAST(m.gross_revenue AS DOUBLE) / o.orders, 4) END
                   AS avg_order_value
        FROM m LEFT JOIN o {join}
    """


def _page(
    snapshot: Snapshot, rows_sql: str, period: Period, paging: Paging, order_by: str
) -> tuple[list[dict[str, Any]], int]:
    params = {**period.params(), **paging.params()}
    total = snapshot.scalar_row(f"SELECT count(*) AS n FROM ({rows_sql})", period.params())["n"]
    rows = snapshot.rows(
        f"SELECT * FROM ({rows_sql}) ORDER BY {order_by} LIMIT $limit OFFSET $offset", params
    )
    return rows, int(total)


def _wrap(rows: list[Any], total: int, paging: Paging, sort: SalesSort) -> dict[str, Any]:
    return {
        "rows": rows,
        "page": paging.page,
        "page_size": paging.page_size,
        "total_rows": total,
        "total_pages": math.ceil(total / paging.page_size) if total else 0,
        "sort": sort.value,
    }


def daily(
    snapshot: Snapshot, period: Period, paging: Paging, sort: SalesSort, grouping: Grouping
) -> Page[DailySales]:
    if grouping is Grouping.country:
        rows_sql = f"SELECT * FROM gold.mart_daily_sales WHERE {period_where('sale_date')}"
    else:
        rows_sql = _grouped("sale_date", "sale_date", grouping)
    rows, total = _page(snapshot, rows_sql, period, paging, sort.order_by("sale_date"))
    return Page[DailySales].model_validate(_wrap(rows, total, paging, sort))


def monthly(
    snapshot: Snapshot, period: Period, paging: Paging, sort: SalesSort, grouping: Grouping
) -> Page[MonthlySales]:
    rows_sql = _grouped("month", "CAST(date_trunc('month', sale_date) AS DATE)", grouping)
    rows, total = _page(snapshot, rows_sql, period, paging, sort.order_by("month"))
    return Page[MonthlySales].model_validate(_wrap(rows, total, paging, sort))


def by_country(snapshot: Snapshot, period: Period) -> list[CountrySales]:
    rows = snapshot.rows(
        f"""
        WITH m AS (
            SELECT country, {_SUMS} FROM gold.mart_daily_sales
            WHERE {period_where("sale_date")} GROUP BY country
        ),
        o AS (
            SELECT country, {_DISTINCT} FROM serve_mem.sale_orders
            WHERE {period_where("sale_date")} GROUP BY country
        )
        SELECT m.country, m.gross_revenue, m.returns_amount, m.net_revenue, m.units,
               coalesce(o.orders, 0) AS orders, coalesce(o.customers, 0) AS customers,
               coalesce(m.gross_revenue / nullif(sum(m.gross_revenue) OVER (), 0), 0)
                   AS revenue_share
        FROM m LEFT JOIN o USING (country)
        ORDER BY m.gross_revenue DESC, m.country
        """,
        period.params(),
    )
    return [CountrySales.model_validate(r) for r in rows]
