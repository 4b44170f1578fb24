"""Serve a JSON body from the snapshot's cache, computing it off the event loop on a miss."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import anyio
import anyio.to_thread
from pydantic import BaseModel
from starlette.responses import Response

from retail_lakehouse.serve.readers import Snapshot

JSON = "application/json"

T = TypeVar("T")

QUERY_THREADS = 8
"""Queries computed at once. More threads than cores only fight over the GIL with the event
loop, which then answers even cached requests late; extra misses wait in the loop instead."""
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def query_limiter() -> anyio.CapacityLimiter:
    """The running event loop's limiter (asyncio primitives belong to one loop)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(QUERY_THREADS)
    return limiter


async def in_thread(function: Callable[..., T], *args: object) -> T:
    """Run blocking query work in a worker thread, at most ``QUERY_THREADS`` at once."""
    return await anyio.to_thread.run_sync(function, *args, limiter=query_limiter())


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
        body = await in_thread(snapshot.cache.compute, key, lambda: encode(produce()))
    return Response(body, media_type=JSON, headers={"X-Snapshot": snapshot.id})
