"""Products and cohorts: top sellers, fuzzy search, retention (viewer)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from retail_lakehouse.serve.auth.deps import require_viewer
from retail_lakehouse.serve.filters import invalid
from retail_lakehouse.serve.models import Cohort, ProductSearch, TopProducts
from retail_lakehouse.serve.queries import products as queries
from retail_lakehouse.serve.respond import cached_json
from retail_lakehouse.serve.routers.common import AUTH_ERRORS, SnapshotDep

router = APIRouter(
    prefix="/api/v1",
    tags=["products"],
    dependencies=[Depends(require_viewer)],
    responses=AUTH_ERRORS,
)


@router.get("/products/top", response_model=TopProducts)
async def top_products(
    snapshot: SnapshotDep,
    metric: Annotated[Literal["revenue", "units"], Query(description="Rank by.")] = "revenue",
    month: Annotated[
        str | None,
        Query(
            pattern=r"^[1-9]\d{3}-(0[1-9]|1[0-2])$",
            description="A month as YYYY-MM; all months when omitted.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    include_non_product: Annotated[
        bool, Query(description="Include postage, fees and other non-product lines.")
    ] = False,
) -> Response:
    """Best-selling products of a month (or of all time) from ``mart_product_performance``."""
    return await cached_json(
        snapshot,
        ("top", metric, month, limit, include_non_product),
        lambda: queries.top(snapshot, metric, month, limit, include_non_product),
    )


@router.get("/products/search", response_model=ProductSearch)
async def search_products(
    snapshot: SnapshotDep,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Words or a stock code; typos are ok."),
    ] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """Case-insensitive, typo-tolerant search over product descriptions and stock codes."""
    if q is not None and not q.strip():
        raise invalid("q", "q is blank: give words or a stock code to search for", q)
    if q is None and category is None:
        raise invalid("q", "give at least one filter: q (search text) or category")
    resolved = None
    if category is not None:
        resolved = snapshot.products.resolve_category(category)
        if resolved is None:
            known = ", ".join(snapshot.products.categories.values()) or "none yet"
            raise invalid("category", f"unknown category {category!r}; known: {known}", category)
    return await cached_json(
        snapshot,
        ("search", q, resolved, limit),
        lambda: queries.search(snapshot, q, resolved, limit),
    )


@router.get("/cohorts", response_model=list[Cohort])
async def cohorts(
    snapshot: SnapshotDep,
    start: Annotated[date | None, Query(alias="from", description="First cohort month.")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last cohort month.")] = None,
    max_months: Annotated[int, Query(ge=0, le=240, description="Months since first buy.")] = 24,
) -> Response:
    """Customer retention by first-purchase month (``mart_cohort_retention``)."""
    if start and end and start > end:
        raise invalid("from", f"'from' ({start}) is after 'to' ({end})", str(start))
    return await cached_json(
        snapshot,
        ("cohorts", start, end, max_months),
        lambda: queries.cohorts(snapshot, start, end, max_months),
    )
