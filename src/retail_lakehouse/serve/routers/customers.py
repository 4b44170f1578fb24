"""Customers: RFM segments and one customer's profile (viewer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from starlette.responses import Response

from retail_lakehouse.serve.auth.deps import require_viewer
from retail_lakehouse.serve.models import Customer, Segments
from retail_lakehouse.serve.queries import customers as queries
from retail_lakehouse.serve.respond import JSON, cached_json, in_thread
from retail_lakehouse.serve.routers.common import AUTH_ERRORS, NOT_FOUND, SnapshotDep

router = APIRouter(
    prefix="/api/v1/customers",
    tags=["customers"],
    dependencies=[Depends(require_viewer)],
    responses=AUTH_ERRORS,
)


@router.get("/segments", response_model=Segments)
async def segments(snapshot: SnapshotDep) -> Response:
    """How many customers fall in each RFM segment, with their value."""
    return await cached_json(snapshot, ("segments",), lambda: queries.segments(snapshot))


@router.get("/{customer_id}", response_model=Customer, responses=NOT_FOUND)
async def customer(
    snapshot: SnapshotDep,
    customer_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=32,
            pattern=r"^[A-Za-z0-9._-]+$",
            description="Customer id as in the source data, e.g. 12345.",
        ),
    ],
) -> Response:
    """A customer's RFM scores and the history of their SCD2 versions."""
    found = await in_thread(queries.customer, snapshot, customer_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no customer {customer_id!r}")
    return Response(found.model_dump_json(), media_type=JSON, headers={"X-Snapshot": snapshot.id})
