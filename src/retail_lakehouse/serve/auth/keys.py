"""API keys: created once, shown once, stored only as a salted hash.

Keys live in ``<lake>/_serve/api_keys.json`` rather than in a Delta table: creating or revoking a
key must not wait for the lake's writer lock (a pipeline run can hold it for minutes), and the
file is tiny. Writes take a lock of their own and replace the file atomically; readers re-read
it when its modification time changes, so a revocation takes effect on the next request of every
running server.

A key looks like ``rlk_<id>_<secret>``. The public ``id`` finds the record; only
``sha256(salt + secret)`` is stored. Secrets are 256 random bits, so a fast hash is enough (slow
password hashes protect guessable secrets, and would cost milliseconds on every request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from retail_lakehouse.serve.auth.roles import Role

KEY_PREFIX = "rlk"
_KEY_RE = re.compile(r"^rlk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
_NAME_RE = re.compile(r"^[\w .@:-]{1,64}$")


class KeyStoreError(ValueError):
    """A key could not be created or revoked (bad name, unknown id)."""


class KeyStoreDamaged(KeyStoreError):
    """The key file cannot be read as a key store (cut short, edited by hand)."""


@dataclass(frozen=True)
class ApiKey:
    """One stored key: everything but the secret."""

    key_id: str
    name: str
    role: Role
    salt: str
    hash: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, str | None]:
        """What may be shown to admins: no salt, no hash."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def keys_path(lake_root: Path) -> Path:
    """Where a lake's keys are kept."""
    return lake_root / "_serve" / "api_keys.json"


class KeyStore:
    """Create, list, revoke and verify API keys of one lake."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = FileLock(str(path) + ".lock")
        self._cache: dict[str, ApiKey] = {}
        self._stamp: tuple[int, int] | None = None
        self._mutex = threading.Lock()

    # -- reading ---------------------------------------------------------------------------
    def _load(self) -> dict[str, ApiKey]:
        """The keys on disk, re-read only when the file changed (a stat per call)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._mutex:
            if stamp != self._stamp:
                self._cache = self._parse(self.path.read_text(encoding="utf-8") or "{}")
                self._stamp = stamp
            return self._cache

    def _parse(self, text: str) -> dict[str, ApiKey]:
        """The keys of the file's text; a damaged file is refused, never taken as empty (a
        ``create`` would then write a store without the keys it held)."""
        try:
            raw = json.loads(text)
            return {
                k: ApiKey(**{**v, "role": Role(v["role"])}) for k, v in raw.get("keys", {}).items()
            }
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise KeyStoreDamaged(
                f"{self.path} is damaged ({type(error).__name__}: {error}); restore it from a "
                "backup (`retail backup` copies it) or move it away and create new keys"
            ) from None

    def list(self) -> list[ApiKey]:
        return sorted(self._load().values(), key=lambda k: (k.created_at, k.key_id))

    def get(self, key_id: str) -> ApiKey | None:
        return self._load().get(key_id)

    def verify(self, presented: str) -> ApiKey | None:
        """The active key matching ``presented``, or None (wrong format, unknown, revoked)."""
        match = _KEY_RE.match(presented.strip())
        if not match:
            return None
        record = self._load().get(match.group(1))
        if record is None or not record.active:
            return None
        if not hmac.compare_digest(record.hash, _digest(record.salt, match.group(2))):
            return None
        return record

    # -- writing ---------------------------------------------------------------------------
    def create(self, role: Role, name: str | None = None) -> tuple[ApiKey, str]:
        """Store a new key and return it with its plain text (the only time it exists)."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        label = (name or f"{role.value}-{key_id}").strip()
        if not _NAME_RE.match(label):
            raise KeyStoreError(
                "key names are 1-64 letters, digits, spaces or . @ : _ - characters"
            )
        record = ApiKey(
            key_id=key_id,
            name=label,
            role=role,
            salt=salt,
            hash=_digest(salt, secret),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with self._lock:
            keys = dict(self._read_fresh())
            keys[key_id] = record
            self._save(keys)
        return record, f"{KEY_PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> ApiKey:
        """Mark a key revoked (kept for the audit trail); unknown ids raise."""
        with self._lock:
            keys = dict(self._read_fresh())
            record = keys.get(key_id)
            if record is None:
                raise KeyStoreError(f"no key with id {key_id!r}")
            if record.active:
                record = replace(record, revoked_at=datetime.now(UTC).isoformat(timespec="seconds"))
                keys[key_id] = record
                self._save(keys)
        return record

    def _read_fresh(self) -> dict[str, ApiKey]:
        with self._mutex:
            self._stamp = None
        return self._load()

    def _save(self, keys: dict[str, ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": 1,
            "keys": {k: {**asdict(v), "role": v.role.value} for k, v in sorted(keys.items())},
        }
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
