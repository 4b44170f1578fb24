"""Everything a running API shares: settings, the lake, the reader, keys, limits, jobs."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from retail_lakehouse.config import Settings
from retail_lakehouse.lake import Lake
from retail_lakehouse.serve.auth.keys import KeyStore
from retail_lakehouse.serve.auth.tokens import TokenSigner
from retail_lakehouse.serve.jobs import JobQueue
from retail_lakehouse.serve.metrics import ApiMetrics
from retail_lakehouse.serve.ratelimit import RateLimiter
from retail_lakehouse.serve.readers import Snapshot, SnapshotReader


@dataclass
class ServeContext:
    settings: Settings
    lake: Lake
    reader: SnapshotReader
    keys: KeyStore
    signer: TokenSigner
    limiter: RateLimiter
    jobs: JobQueue
    metrics: ApiMetrics


def serve_context(request: Request) -> ServeContext:
    context: ServeContext = request.app.state.serve
    return context


def current_snapshot(request: Request) -> Snapshot:
    """The snapshot a request reads (taken once, so all its queries see the same data)."""
    return serve_context(request).reader.current()
