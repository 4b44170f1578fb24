"""What every router shares: documented error responses and the snapshot dependency."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from retail_lakehouse.serve.context import current_snapshot
from retail_lakehouse.serve.models import ErrorOut
from retail_lakehouse.serve.readers import Snapshot

SnapshotDep = Annotated[Snapshot, Depends(current_snapshot)]

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked credentials."},
    403: {"model": ErrorOut, "description": "The key's role does not allow this."},
    429: {"model": ErrorOut, "description": "Rate limit exceeded; see Retry-After."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "Not found."}}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body is not valid JSON."}
}
