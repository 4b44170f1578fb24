"""The dashboard: one static page and its assets, shipped inside the package (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

router = APIRouter(include_in_schema=False)

# The page loads only its own scripts and styles and talks only to this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.api_route("/", methods=["GET", "HEAD"])
async def dashboard() -> FileResponse:
    return FileResponse(WEB_ROOT / "index.html", headers=SECURITY_HEADERS)
