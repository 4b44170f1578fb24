"""A cap on request bodies, applied before any route reads one.

FastAPI reads and parses a route's whole JSON body before it resolves the route's
dependencies, the key check among them: without a cap, anyone could make the server buffer a
body of any size (300 MB sent without a key grew it by 0.9 GB before its 401). The API's JSON
bodies are a few dozen bytes, so past :data:`MAX_BODY_BYTES` a request is answered 413, from
its ``Content-Length`` before a byte is read, or as soon as a chunked body passes the cap.
Uploads are exempt: they stream to disk after the key check, under ``max_upload_mb``.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
TOO_LARGE = "request body larger than 64 KiB (files go to POST /api/v1/files)"


class BodyLimit:
    """Pure ASGI middleware (it must see the body as it streams, not a buffered copy)."""

    def __init__(self, app: ASGIApp, exempt: frozenset[str]) -> None:
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await JSONResponse({"detail": TOO_LARGE}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:  # FastAPI passes an HTTPException through body parsing
                raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, capped, send)
