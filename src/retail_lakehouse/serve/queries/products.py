"""Products: the top sellers of a month (or of all time) and fuzzy search."""

from __future__ import annotations

from datetime import date
from typing import Literal

from retail_lakehouse.serve.models import (
    Cohort,
    ProductHit,
    ProductSearch,
    TopProduct,
    TopProducts,
)
from retail_lakehouse.serve.readers import Snapshot

Metric = Literal["revenue", "units"]
_ORDER = {"revenue": "revenue DESC, units DESC", "units": "units DESC, revenue DESC"}


def top(
    snapshot: Snapshot,
    metric: Metric,
    month: str | None,
    limit: int,
    include_non_product: bool,
) -> TopProducts:
    """Best products by ``metric``; ``month`` is ``YYYY-MM`` (validated by the route)."""
    if month:
        rows = snapshot.rows(
            f"""
            SELECT stock_code, description, category, revenue, units, orders, return_rate
            FROM serve_mem.product_months
            WHERE month = CAST($month AS DATE)
              AND (CAST($non_product AS BOOLEAN) OR NOT is_non_product)
            ORDER BY {_ORDER[metric]}, stock_code LIMIT $limit
            """,
            {
                "month": date.fromisoformat(f"{month}-01"),
                "non_product": include_non_product,
                "limit": limit,
            },
        )
    else:
        rows = snapshot.rows(
            f"""
            SELECT stock_code, description, category, revenue, units, orders,
                   CAST(NULL AS DOUBLE) AS return_rate
            FROM serve_mem.product_totals
            WHERE CAST($non_product AS BOOLEAN) OR NOT is_non_product
            ORDER BY {_ORDER[metric]}, stock_code LIMIT $limit
            """,
            {"non_product": include_non_product, "limit": limit},
        )
    return TopProducts(
        metric=metric,
        month=month,
        products=[TopProduct.model_validate({**r, "rank": n}) for n, r in enumerate(rows, 1)],
    )


def search(
    snapshot: Snapshot, query: str | None, category: str | None, limit: int
) -> ProductSearch:
    hits = snapshot.products.search(query, category, limit)
    return ProductSearch(
        query=query,
        category=category,
        results=[
            ProductHit(
                stock_code=h.product.stock_code,
                description=h.product.description,
                category=h.product.category,
                is_non_product=h.product.is_non_product,
                score=h.score,
            )
            for h in hits
        ],
    )


def cohorts(
    snapshot: Snapshot, start: date | None, end: date | None, max_months: int
) -> list[Cohort]:
    rows = snapshot.rows(
        """
        SELECT cohort_month, months_since, cohort_size, active_customers, retention
        FROM gold.mart_cohort_retention
        WHERE (CAST($start AS DATE) IS NULL OR cohort_month >= CAST($start AS DATE))
          AND (CAST($end AS DATE) IS NULL OR cohort_month <= CAST($end AS DATE))
          AND months_since <= $max_months
        ORDER BY cohort_month, months_since
        """,
        {"start": start, "end": end, "max_months": max_months},
    )
    return [Cohort.model_validate(r) for r in rows]
