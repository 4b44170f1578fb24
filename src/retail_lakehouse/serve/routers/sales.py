"""Sales: KPIs, daily and monthly figures, revenue by country (viewer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from retail_lakehouse.serve.auth.deps import require_viewer
from retail_lakehouse.serve.filters import (
    Grouping,
    Paging,
    Period,
    SalesSort,
    paging_query,
    period_query,
    resolve_period,
)
from retail_lakehouse.serve.models import (
    Country,
    CountrySales,
    DailySales,
    Kpis,
    MonthlySales,
    Page,
)
from retail_lakehouse.serve.queries import customers as customer_queries
from retail_lakehouse.serve.queries import sales as queries
from retail_lakehouse.serve.respond import cached_json
from retail_lakehouse.serve.routers.common import AUTH_ERRORS, SnapshotDep

router = APIRouter(
    prefix="/api/v1",
    tags=["sales"],
    dependencies=[Depends(require_viewer)],
    responses=AUTH_ERRORS,
)
PeriodDep = Annotated[Period, Depends(period_query)]
PagingDep = Annotated[Paging, Depends(paging_query)]
GroupingQ = Annotated[
    Grouping, Query(alias="by", description="`country` rows (default) or `total` per period.")
]
SortQ = Annotated[SalesSort, Query(description="Sort column; prefix `-` for descending.")]


@router.get("/kpis", response_model=Kpis)
async def kpis(snapshot: SnapshotDep, period: PeriodDep) -> Response:
    """Headline figures for a period and country, with the gold definitions."""
    resolved = resolve_period(snapshot, period)
    return await cached_json(snapshot, ("kpis", resolved), lambda: queries.kpis(snapshot, resolved))


@router.get("/sales/daily", response_model=Page[DailySales])
async def sales_daily(
    snapshot: SnapshotDep,
    period: PeriodDep,
    paging: PagingDep,
    sort: SortQ = SalesSort.date_asc,
    by: GroupingQ = Grouping.country,
) -> Response:
    """Rows of ``mart_daily_sales`` (or their totals over countries), paginated."""
    resolved = resolve_period(snapshot, period)
    return await cached_json(
        snapshot,
        ("daily", resolved, paging, sort, by),
        lambda: queries.daily(snapshot, resolved, paging, sort, by),
    )


@router.get("/sales/monthly", response_model=Page[MonthlySales])
async def sales_monthly(
    snapshot: SnapshotDep,
    period: PeriodDep,
    paging: PagingDep,
    sort: SortQ = SalesSort.date_asc,
    by: GroupingQ = Grouping.country,
) -> Response:
    """The daily mart rolled up by calendar month, with exact distinct orders and customers."""
    resolved = resolve_period(snapshot, period)
    return await cached_json(
        snapshot,
        ("monthly", resolved, paging, sort, by),
        lambda: queries.monthly(snapshot, resolved, paging, sort, by),
    )


@router.get("/sales/countries", response_model=list[CountrySales])
async def sales_by_country(snapshot: SnapshotDep, period: PeriodDep) -> Response:
    """Revenue per country over a period, largest first."""
    resolved = resolve_period(snapshot, period)
    return await cached_json(
        snapshot,
        ("by_country", resolved),
        lambda: queries.by_country(snapshot, resolved),
    )


@router.get("/countries", response_model=list[Country])
async def countries(snapshot: SnapshotDep) -> Response:
    """The countries filters accept (``dim_country``)."""
    return await cached_json(snapshot, ("countries",), lambda: customer_queries.countries(snapshot))
