"""Operating the lake (admin): upload files, start runs and follow them, manage keys."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from retail_lakehouse.serve import operations
from retail_lakehouse.serve.auth.deps import require_admin
from retail_lakehouse.serve.auth.keys import ApiKey, KeyStoreError
from retail_lakehouse.serve.auth.roles import Role
from retail_lakehouse.serve.context import ServeContext, serve_context
from retail_lakehouse.serve.jobs import Job, JobStatus
from retail_lakehouse.serve.models import (
    ErrorOut,
    JobOut,
    KeyInfo,
    KeyRequest,
    NewKey,
    RunRequest,
    Upload,
)
from retail_lakehouse.serve.routers.common import AUTH_ERRORS, BAD_BODY, NOT_FOUND
from retail_lakehouse.serve.uploads import UploadRefused, receive_file, safe_name, store

log = logging.getLogger(__name__)

UPLOAD_PATH = "/api/v1/files"
"""Streamed to disk after the key check under its own limit (exempt from the body cap)."""

router = APIRouter(
    prefix="/api/v1",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=AUTH_ERRORS,
)
ContextDep = Annotated[ServeContext, Depends(serve_context)]
JobId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{16}$", description="Job id.")]

_MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind="run" if job.kind == "run" else "ingest",
        status=job.status.value,
        submitted_at=job.submitted_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        reason=job.reason,
        detail=job.detail,
        status_url=f"/api/v1/runs/{job.id}",
    )


@router.post(
    "/files",
    response_model=Upload,
    status_code=201,
    openapi_extra=_MULTIPART_BODY,
    responses={
        202: {"model": Upload, "description": "Stored; ingestion still queued or running."},
        413: {"model": ErrorOut, "description": "Larger than max_upload_mb."},
        415: {"model": ErrorOut, "description": "Not an ingestible file type."},
        422: {"model": ErrorOut, "description": "Malformed upload, or the file was refused."},
        503: {"model": ErrorOut, "description": "Ingestion failed; try again later."},
    },
)
async def upload_file(
    request: Request,
    context: ContextDep,
    wait: Annotated[
        float, Query(ge=0, le=120, description="Seconds to wait for ingestion to finish.")
    ] = 30.0,
    date_order: Annotated[
        Literal["mdy", "dmy", "ymd"] | None,
        Query(description="How the file writes dates (default: detected, else [formats])."),
    ] = None,
    decimal: Annotated[
        Literal[".", ","] | None,
        Query(description="Decimal separator of the prices (default: detected)."),
    ] = None,
) -> Response:
    """Upload a source file (multipart field ``file``) into landing/ and ingest it into bronze.

    The body is read only after the key is checked, and refused past ``max_upload_mb``."""
    max_bytes = context.settings.max_upload_mb * 2**20
    try:
        upload = await receive_file(request.headers, request.stream(), max_bytes)
        name = safe_name(upload.filename)
        stored = await run_in_threadpool(store, upload.file, context.settings.landing, name)
    except UploadRefused as refused:
        return JSONResponse({"detail": str(refused)}, status_code=refused.status)
    except OSError as error:  # landing/ not a writable folder, or its disk full: the server's
        log.error("upload not stored in %s: %s", context.settings.landing, error)
        return JSONResponse(
            {
                "detail": "the server cannot store uploads now (its landing folder cannot be "
                "written); try again later or tell its operator"
            },
            status_code=503,
        )
    lake, settings = context.lake, context.settings
    formats = operations.upload_formats(settings, date_order, decimal)
    job = context.jobs.submit(
        "ingest", lambda: operations.ingest_upload(lake, stored.path, settings, formats)
    )
    await asyncio.get_running_loop().run_in_executor(None, job.done.wait, wait)
    duplicate = bool(job.detail and job.detail.get("removed_from_landing"))
    body = Upload(
        file=stored.path.name, size_bytes=stored.size_bytes, duplicate=duplicate, job=job_out(job)
    )
    if job.status is JobStatus.succeeded:
        status = 201
    elif job.status is JobStatus.failed and job.error_type == "FileRefused":
        status = 422
    elif job.status is JobStatus.failed:
        status = 503
    else:
        status = 202
    return Response(body.model_dump_json(), status_code=status, media_type="application/json")


@router.post("/runs", response_model=JobOut, status_code=202, responses=BAD_BODY)
async def start_run(context: ContextDep, body: RunRequest | None = None) -> Response:
    """Queue a pipeline run (one runs at a time; later requests wait their turn)."""
    options = body or RunRequest()
    lake, settings = context.lake, context.settings
    job = context.jobs.submit(
        "run", lambda: operations.run_pipeline(lake, settings, options.full_refresh)
    )
    out = job_out(job)
    return Response(
        out.model_dump_json(),
        status_code=202,
        media_type="application/json",
        headers={"Location": out.status_url},
    )


@router.get("/runs", response_model=list[JobOut])
async def list_runs(
    context: ContextDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[JobOut]:
    """Recent jobs started through this server, newest first."""
    return [job_out(j) for j in context.jobs.recent(limit)]


@router.get("/runs/{job_id}", response_model=JobOut, responses=NOT_FOUND)
async def get_run(context: ContextDep, job_id: JobId) -> JobOut:
    """A job's state: queued, running, succeeded, or failed with the reason."""
    job = context.jobs.get(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id!r} on this server")
    return job_out(job)


def key_info(record: ApiKey) -> KeyInfo:
    return KeyInfo.model_validate(record.public())


@router.get("/keys", response_model=list[KeyInfo])
async def list_keys(context: ContextDep) -> list[KeyInfo]:
    """Every key (including revoked ones), without secrets."""
    return [key_info(k) for k in context.keys.list()]


@router.post(
    "/keys",
    response_model=NewKey,
    status_code=201,
    responses={**BAD_BODY, 422: {"model": ErrorOut}},
)
async def create_key(context: ContextDep, body: KeyRequest) -> NewKey:
    """Create a key; the response is the only time its secret is shown."""
    try:
        record, secret = await run_in_threadpool(context.keys.create, Role(body.role), body.name)
    except KeyStoreError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    return NewKey(**key_info(record).model_dump(), api_key=secret)


@router.delete("/keys/{key_id}", response_model=KeyInfo, responses=NOT_FOUND)
async def revoke_key(
    context: ContextDep,
    key_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{12}$", description="Key id.")],
) -> KeyInfo:
    """Revoke a key: it and every token issued for it stop working at once."""
    try:
        record = await run_in_threadpool(context.keys.revoke, key_id)
    except KeyStoreError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    return key_info(record)
