"""The application factory: ``create_app(settings)`` wires readers, auth, jobs and routes.

One process serves everything (``retail serve`` runs one uvicorn worker): the job queue that
keeps runs one at a time and the per-key rate limiter live in memory, so more workers would
each have their own. Reads are cheap enough that one worker is not the bottleneck (see
``docs/benchmarks.md``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse

from retail_lakehouse import __version__
from retail_lakehouse.config import Settings
from retail_lakehouse.lake import Lake
from retail_lakehouse.observe.metrics import PipelineCollector
from retail_lakehouse.serve.auth.keys import KeyStore, keys_path
from retail_lakehouse.serve.auth.tokens import TokenSigner
from retail_lakehouse.serve.bodylimit import BodyLimit
from retail_lakehouse.serve.context import ServeContext
from retail_lakehouse.serve.filters import single_valued_query
from retail_lakehouse.serve.jobs import Job, JobQueue
from retail_lakehouse.serve.metrics import ApiMetrics, MetricsMiddleware
from retail_lakehouse.serve.operations import close_sandboxes
from retail_lakehouse.serve.ratelimit import RateLimiter
from retail_lakehouse.serve.readers import SnapshotReader
from retail_lakehouse.serve.reasons import client_detail, client_reason
from retail_lakehouse.serve.routers import admin, customers, products, quality, sales, system, web
from retail_lakehouse.serve.uploads import sweep_landing
from retail_lakehouse.serve.warm import warm_dashboard

log = logging.getLogger(__name__)

DESCRIPTION = """\
Read the gold layer of a retail lakehouse, upload source files and run the pipeline.

Authenticate with an `X-API-Key` header (keys come from `retail keys create`) or with
`Authorization: Bearer <token>` (from `POST /api/v1/auth/token`). Roles: **viewer** reads gold,
**analyst** also reads quality details and quarantine, **admin** also uploads, runs and manages
keys. Every response to a data query carries `X-Snapshot`, the id of the lake snapshot it read.
"""


def build_context(settings: Settings, *, poll_seconds: float = 1.0) -> ServeContext:
    """The shared state of one server."""
    # jobs run in the background, one at a time: a job waits for a CLI writer to finish
    lake = Lake(settings.lake, writer_wait=max(settings.writer_wait, 600.0))
    reader = SnapshotReader(lake, poll_seconds=poll_seconds, warm=warm_dashboard)
    jobs = JobQueue()
    context = ServeContext(
        settings=settings,
        lake=lake,
        reader=reader,
        keys=KeyStore(keys_path(lake.root)),
        signer=TokenSigner(settings.jwt_secret),
        limiter=RateLimiter(settings.api_rate_limit_per_minute),
        jobs=jobs,
        metrics=ApiMetrics(
            live=lambda: _live_gauges(reader, jobs), pipeline=PipelineCollector(lake)
        ),
    )

    def refresh_after(job: Job) -> None:
        # A job's outcome is published only after the data it changed is being served.
        reader.refresh(force=True)

    jobs.after_each = refresh_after
    jobs.describe = lambda error: client_reason(error, context.private_roots)
    jobs.reword = lambda detail: client_detail(detail, context.private_roots)
    return context


def _live_gauges(reader: SnapshotReader, jobs: JobQueue) -> dict[str, float]:
    gauges: dict[str, float] = {"jobs_queued": float(jobs.queued)}
    gauges["job_running"] = 1.0 if jobs.running else 0.0
    gauges["snapshot_refreshes"] = float(reader.refreshes)
    snapshot = reader._snapshot  # read without triggering a build from a scrape
    if snapshot is not None:
        gauges["snapshot_build_seconds"] = snapshot.build_seconds
        gauges["snapshot_built_timestamp_seconds"] = snapshot.built_at.timestamp()
        gauges["cache_hits"] = float(snapshot.cache.hits)
        gauges["cache_misses"] = float(snapshot.cache.misses)
    return gauges


def docs_assets() -> Path:
    """Swagger UI 5 (which reads OpenAPI 3.1) and its favicon, as shipped by ``fastapi-offline``.

    FastAPI publishes OpenAPI 3.1; Swagger UI 4 cannot read it, and FastAPI's default page loads
    the UI and a favicon from the internet. The package is used only for these files."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def create_app(settings: Settings, *, poll_seconds: float = 1.0) -> FastAPI:
    """A ready-to-serve FastAPI app for the lake named in ``settings``."""
    context = build_context(settings, poll_seconds=poll_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for abandoned in await run_in_threadpool(sweep_landing, settings.landing):
            log.warning("removed %s, left by a server killed while storing an upload", abandoned)
        await run_in_threadpool(context.reader.start)
        context.jobs.start()
        try:
            yield
        finally:
            context.jobs.stop()
            context.reader.stop()
            close_sandboxes()

    app = FastAPI(
        title="retail-lakehouse API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from packaged assets: the machine may be offline
        redoc_url=None,
        dependencies=[Depends(single_valued_query)],
    )
    app.state.serve = context
    app.add_middleware(BodyLimit, exempt=frozenset({admin.UPLOAD_PATH}))
    app.add_middleware(MetricsMiddleware, metrics=context.metrics)  # outermost: counts 413s too

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    for router in (
        system.router,
        sales.router,
        customers.router,
        products.router,
        quality.viewer_router,
        quality.router,
        admin.router,
        web.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=web.WEB_ROOT), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(docs_assets())), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="retail-lakehouse API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
            # No badge fetched from the public validator service: the page stays on this host.
            swagger_ui_parameters={"validatorUrl": None},
        )

    return app
