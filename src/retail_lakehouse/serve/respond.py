"""Serve a JSON body from the snapshot's cache, computing it off the event loop on a miss."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from retail_lakehouse.serve.readers import Snapshot

JSON = "application/json"


Body = BaseModel | Sequence[BaseModel] | bytes
"""What a query produces: a model, a list of models, or JSON already encoded (large pages)."""


def encode(value: Body) -> bytes:
    """JSON of a model or a list of models (each serialised as its own class)."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, BaseModel):
        return b"[" + b",".join(item.model_dump_json().encode() for item in value) + b"]"
    return value.model_dump_json().encode()


async def cached_json(snapshot: Snapshot, key: Hashable, produce: Callable[[], Body]) -> Response:
    """The response for ``key`` on ``snapshot``: from the cache, or produced once and cached.

    Responses carry ``X-Snapshot`` so clients (and tests) can tell which data they saw."""
    body = snapshot.cache.get(key)
    if body is None:
        body = await run_in_threadpool(snapshot.cache.compute, key, lambda: encode(produce()))
    return Response(body, media_type=JSON, headers={"X-Snapshot": snapshot.id})
