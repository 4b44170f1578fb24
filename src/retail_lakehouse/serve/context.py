"""Everything a running API shares: settings, the lake, the reader, keys, limits, jobs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Query, Request

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

    @property
    def private_roots(self) -> tuple[Path, ...]:
        """The server's folders a client is never shown (:mod:`retail_lakehouse.serve.reasons`)."""
        return (self.lake.root, self.settings.landing)


def serve_context(request: Request) -> ServeContext:
    context: ServeContext = request.app.state.serve
    return context


def current_snapshot(
    request: Request,
    as_of: Annotated[
        str | None,
        Query(
            description="Read the lake as it was when this run finished (a run id) or at this "
            "time (ISO 8601, UTC when no zone), like `retail sql --as-of`.",
            max_length=64,
        ),
    ] = None,
) -> Snapshot:
    """The snapshot a request reads (taken once, so all its queries see the same data)."""
    context = serve_context(request)
    reader = context.reader
    if as_of is None:
        return reader.current()
    from retail_lakehouse.lake.history import AsOfError
    from retail_lakehouse.serve.filters import invalid
    from retail_lakehouse.serve.reasons import client_message

    try:
        return reader.at(as_of)
    except AsOfError as bad:
        raise invalid("as_of", client_message(bad, context.private_roots), as_of) from None
