"""Short-lived bearer tokens (JWT, HS256) exchanged for an API key.

A token names the key it was issued for; every request re-checks that key in the store, so
revoking a key also ends its tokens without a token blacklist. Tokens expire after
``TOKEN_TTL_SECONDS`` so a leaked one is useful only briefly.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

TOKEN_TTL_SECONDS = 900
_ALGORITHM = "HS256"
_ISSUER = "retail-lakehouse"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


class TokenSigner:
    """Issues and checks tokens with one secret (random per process when none is configured)."""

    def __init__(self, secret: str | None, ttl_seconds: int = TOKEN_TTL_SECONDS) -> None:
        self._secret = secret or secrets.token_urlsafe(48)
        self.ttl_seconds = ttl_seconds

    def issue(self, key_id: str, role: str) -> IssuedToken:
        now = int(time.time())
        claims = {
            "iss": _ISSUER,
            "sub": key_id,
            "role": role,
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": secrets.token_hex(8),
        }
        token: str = jwt.encode(claims, self._secret, algorithm=_ALGORITHM)
        return IssuedToken(token, self.ttl_seconds)

    def key_id(self, token: str) -> str | None:
        """The key id of a valid, unexpired token, or None for anything else."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) else None
