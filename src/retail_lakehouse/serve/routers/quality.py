"""Data quality: the score trend (viewer); rule details and quarantine (analyst)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from retail_lakehouse.serve.auth.deps import require_analyst, require_viewer
from retail_lakehouse.serve.context import ServeContext, serve_context
from retail_lakehouse.serve.filters import Paging, invalid, paging_query
from retail_lakehouse.serve.models import (
    QualityHistory,
    QualityLatest,
    QualityTrend,
    QuarantinePage,
    Rejects,
)
from retail_lakehouse.serve.queries import quality as queries
from retail_lakehouse.serve.respond import cached_json
from retail_lakehouse.serve.routers.common import AUTH_ERRORS, SnapshotDep

viewer_router = APIRouter(
    prefix="/api/v1",
    tags=["quality"],
    dependencies=[Depends(require_viewer)],
    responses=AUTH_ERRORS,
)
router = APIRouter(
    prefix="/api/v1",
    tags=["quality"],
    dependencies=[Depends(require_analyst)],
    responses=AUTH_ERRORS,
)
LimitQ = Annotated[int, Query(ge=1, le=1000, description="How many runs, newest kept.")]


@viewer_router.get("/quality/trend", response_model=QualityTrend)
async def quality_trend(snapshot: SnapshotDep, limit: LimitQ = 100) -> Response:
    """The overall quality score of silver per run, oldest first (for the dashboard)."""
    return await cached_json(snapshot, ("trend", limit), lambda: queries.trend(snapshot, limit))


@router.get("/quality/latest", response_model=QualityLatest)
async def quality_latest(
    snapshot: SnapshotDep,
    table: Annotated[
        str,
        Query(
            pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
            description="Scored table: silver.sales_lines (the rules) or a table with table "
            "tests, e.g. gold.fact_sales.",
        ),
    ] = queries.SCORED_TABLE,
) -> Response:
    """The latest run's overall, per-dimension and per-rule (or per-test) quality results."""
    from retail_lakehouse.lake.contracts import contracts

    if table not in {contract.qualified for contract in contracts()}:  # a typo answered empty
        raise invalid(
            "table",
            f"unknown table {table!r}: silver.sales_lines (the rules) or a lake table with table "
            "tests (`retail sql 'SHOW TABLES'` lists the tables)",
            table,
        )
    return await cached_json(snapshot, ("q_latest", table), lambda: queries.latest(snapshot, table))


@router.get("/quality/history", response_model=QualityHistory)
async def quality_history(snapshot: SnapshotDep, limit: LimitQ = 100) -> Response:
    """Overall and per-dimension scores of recent runs, oldest first."""
    return await cached_json(
        snapshot, ("q_history", limit), lambda: queries.history(snapshot, limit)
    )


@router.get("/quality/rejects", response_model=Rejects)
async def quality_rejects(
    snapshot: SnapshotDep,
    examples: Annotated[int, Query(ge=0, le=100, description="Example lines to return.")] = 10,
) -> Response:
    """Source lines rejected at ingest (``bronze.rejects``): how many, why, and examples.

    They never reach silver, so no rule scores them; this is where they are seen."""
    return await cached_json(
        snapshot, ("rejects", examples), lambda: queries.rejects(snapshot, examples)
    )


@router.get("/quarantine", response_model=QuarantinePage)
async def quarantine(
    snapshot: SnapshotDep,
    context: Annotated[ServeContext, Depends(serve_context)],
    paging: Annotated[Paging, Depends(paging_query)],
    rule: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_.:-]+$",
            description="Only lines that failed this rule.",
        ),
    ] = None,
) -> Response:
    """Quarantined silver lines with the rules they failed and their raw values.

    An unknown ``rule`` is a 422 naming the known ones (not an empty page, which would read as
    "no line failed it")."""
    if rule is not None:
        known = queries.known_rules(snapshot, context.settings.rules)
        if rule not in known:
            raise invalid(
                "rule", f"unknown rule {rule!r}; known rules: {', '.join(sorted(known))}", rule
            )
    return await cached_json(
        snapshot,
        ("quarantine", rule, paging),
        lambda: queries.quarantine(snapshot, rule, paging),
    )
