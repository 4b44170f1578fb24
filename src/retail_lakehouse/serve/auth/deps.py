"""FastAPI dependencies: authenticate (401), rate-limit (429), then authorize (403).

Credentials are an ``X-API-Key`` header or ``Authorization: Bearer <token>``; both resolve to a
stored, unrevoked key, whose role decides. Declared through FastAPI's security classes so the
OpenAPI schema and ``/docs`` show both schemes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from retail_lakehouse.serve.auth.keys import ApiKey, KeyStore, KeyStoreDamaged
from retail_lakehouse.serve.auth.roles import Role
from retail_lakehouse.serve.auth.tokens import TokenSigner
from retail_lakehouse.serve.context import serve_context

log = logging.getLogger(__name__)

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key from `retail keys create`.",
)
bearer_token = HTTPBearer(
    auto_error=False,
    description="A token from `POST /api/v1/auth/token` (expires after 15 minutes).",
)

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="retail", ApiKey header="X-API-Key"'}


@dataclass(frozen=True)
class Principal:
    """The caller: which key, which role."""

    key_id: str
    name: str
    role: Role
    via_token: bool = False
    """True when the caller presented a bearer token rather than the API key itself."""


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers=CHALLENGE)


def _stored_key(
    keys: KeyStore,
    signer: TokenSigner,
    api_key: str | None,
    token: HTTPAuthorizationCredentials | None,
) -> ApiKey:
    """The active key behind the credentials presented, or a 401 saying what was wrong."""
    if api_key:
        record = keys.verify(api_key)
        if record is None:
            raise _unauthorized("invalid or revoked API key")
        return record
    if token is not None:
        key_id = signer.key_id(token.credentials)
        found = keys.get(key_id) if key_id else None
        if found is None or not found.active:
            raise _unauthorized("invalid or expired token; get a new one from /api/v1/auth/token")
        return found
    raise _unauthorized(
        "missing credentials: send an X-API-Key header or Authorization: Bearer <token>"
    )


async def authenticate(
    request: Request,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)] = None,
) -> Principal:
    context = serve_context(request)
    try:
        record = _stored_key(context.keys, context.signer, api_key, token)
    except KeyStoreDamaged as damaged:  # no key can be checked: refused, the path kept private
        log.error("%s", damaged)
        raise HTTPException(
            status_code=503, detail="the server's key store is damaged; tell its operator"
        ) from None
    wait = context.limiter.check(record.key_id)
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail=f"rate limit of {context.settings.api_rate_limit_per_minute} requests per "
            "minute exceeded for this key",
            headers={"Retry-After": context.limiter.retry_after(wait)},
        )
    principal = Principal(record.key_id, record.name, record.role, via_token=not api_key)
    request.state.principal = principal
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers whose role includes ``role``."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.role.allows(role):
            raise HTTPException(
                status_code=403,
                detail=f"this needs the {role.value} role; your key has {principal.role.value}",
            )
        return principal

    check.__name__ = f"require_{role.value}"
    return check


require_viewer = require(Role.viewer)
require_analyst = require(Role.analyst)
require_admin = require(Role.admin)
Viewer = Annotated[Principal, Depends(require_viewer)]
Analyst = Annotated[Principal, Depends(require_analyst)]
Admin = Annotated[Principal, Depends(require_admin)]
