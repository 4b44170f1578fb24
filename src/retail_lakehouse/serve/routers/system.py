"""Health, metrics and credentials: the endpoints around the data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.responses import Response

from retail_lakehouse import __version__
from retail_lakehouse.serve.auth.deps import Principal, authenticate
from retail_lakehouse.serve.context import serve_context
from retail_lakehouse.serve.metrics import CONTENT_TYPE
from retail_lakehouse.serve.models import Health, Me, SnapshotInfo, Token
from retail_lakehouse.serve.reasons import client_text
from retail_lakehouse.serve.routers.common import AUTH_ERRORS

router = APIRouter()


@router.get("/api/v1/health", response_model=Health, tags=["system"])
async def health(request: Request) -> Health:
    """Liveness and what is being served; needs no key."""
    context = serve_context(request)
    snapshot = context.reader.current()
    running = context.jobs.running
    error = context.reader.last_error
    return Health(
        status="degraded" if error else "ok",
        version=__version__,
        snapshot=SnapshotInfo(
            id=snapshot.id,
            built_at=snapshot.built_at,
            build_seconds=snapshot.build_seconds,
            age_seconds=round((datetime.now(UTC) - snapshot.built_at).total_seconds(), 3),
            versions=snapshot.versions,
        ),
        refresh_error=client_text(error, context.private_roots) if error else None,
        jobs_queued=context.jobs.queued,
        job_running=running.id if running else None,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus exposition; needs no key."""
    return Response(serve_context(request).metrics.render(), media_type=CONTENT_TYPE)


@router.post("/api/v1/auth/token", response_model=Token, tags=["auth"], responses=AUTH_ERRORS)
async def token(request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> Token:
    """Exchange an API key (X-API-Key header) for a short-lived bearer token.

    Only a key can be exchanged: a token that could mint its successor would never expire, so a
    stolen token would live forever (403)."""
    if principal.via_token:
        raise HTTPException(
            status_code=403,
            detail="a bearer token cannot be exchanged for a new one: send the API key "
            "(X-API-Key header) to get a token",
        )
    issued = serve_context(request).signer.issue(principal.key_id, principal.role.value)
    return Token(access_token=issued.token, expires_in=issued.expires_in)


@router.get("/api/v1/me", response_model=Me, tags=["auth"], responses=AUTH_ERRORS)
async def me(principal: Annotated[Principal, Depends(authenticate)]) -> Me:
    """Who the presented credentials belong to (the dashboard checks its key with this)."""
    return Me(key_id=principal.key_id, name=principal.name, role=principal.role.value)
