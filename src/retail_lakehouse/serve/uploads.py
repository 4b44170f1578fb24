"""Uploaded files into ``landing/``: size-limited, safely named, written atomically.

The body is counted as it streams in and refused (413) as soon as it passes the limit, and the
name a client sends is reduced to a plain file name (no folders, no dot files, a small
character set, a known extension) that is then checked to resolve inside ``landing/``. The file
appears under its final name only once complete, so a ``retail ingest landing/`` running at the
same moment never reads half a file. A server killed between the two leaves its scratch file
(``.upload-<pid>@<host>-<random>.part``, skipped by ingest); the next server started on the same
landing folder removes it (:func:`sweep_landing`).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from retail_lakehouse.lake import faults
from retail_lakehouse.lake.scratch import scratch_path, sweep
from retail_lakehouse.sources.compressed import split_suffix
from retail_lakehouse.sources.readers import SUPPORTED_TEXT, is_supported

_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}
"""What ``link()`` answers where the file system has no hard links (EPERM: vfat on Linux)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120


class UploadRefused(ValueError):
    """The upload cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def safe_name(raw: str | None) -> str:
    """A harmless file name derived from what the client sent, keeping its extension."""
    if not raw:
        raise UploadRefused("the upload has no file name")
    sent = re.split(r"[\\/]", raw)[-1]
    base = unicodedata.normalize("NFKD", sent).encode("ascii", "ignore").decode()
    if base.startswith(".") and not sent.startswith("."):  # "продажи.csv": no letter ASCII keeps
        base = "upload" + base
    base = _UNSAFE.sub("_", base).strip("._-")
    inner, compression = split_suffix(Path(base))
    ext = inner + (compression or "")  # ".csv", or ".csv.gz" for a compressed export
    stem = base[: len(base) - len(ext)] if ext else base
    if not stem.strip("._-") or not is_supported(Path(base)):
        shown = Path(base).suffix.lower() if stem.strip("._-") else ""
        raise UploadRefused(
            f"unsupported file type {shown or '(none)'}; send one of {SUPPORTED_TEXT}", 415
        )
    stem = stem.strip("._-")[: MAX_NAME - len(ext)] or "upload"
    return f"{stem}{ext}"


def confined(landing: Path, name: str) -> Path:
    """``landing/name``, checked to be directly inside ``landing`` after resolving links."""
    root = landing.resolve()
    target = (root / name).resolve()
    if target.parent != root:
        raise UploadRefused("file name escapes the landing folder")
    return target


@dataclass(frozen=True)
class Stored:
    path: Path
    size_bytes: int


async def limited(stream: AsyncIterator[bytes], max_bytes: int) -> AsyncGenerator[bytes, None]:
    """Pass the request body through, failing once more than ``max_bytes`` arrived."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > max_bytes:
            raise UploadRefused(f"upload larger than the {max_bytes // 2**20} MB limit", 413)
        yield chunk


async def receive_file(
    headers: Headers, stream: AsyncIterator[bytes], max_bytes: int
) -> UploadFile:
    """The single ``file`` part of a multipart body, spooled to a temporary file."""
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise UploadRefused(f"upload larger than the {max_bytes // 2**20} MB limit", 413)
    if not headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadRefused("send the file as multipart/form-data in a field named 'file'")
    parser = MultiPartParser(headers, limited(stream, max_bytes), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise UploadRefused(f"malformed multipart body: {error.message}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise UploadRefused("no file in the form field 'file'")
    return upload


def store(upload: BinaryIO, landing: Path, name: str) -> Stored:
    """Copy the spooled upload to ``landing/`` under a name no other file has.

    The name is claimed with a hard link, which fails when the name exists, rather than checked
    and then replaced: two uploads of one name at once both found it free and the second
    replaced the first before its ingest read it (one upload's lines lost, another's ingested
    twice as 'duplicate'). A taken name gets a stamp before its whole extension
    (``may-<stamp>-<hex>.csv.gz``), so the reader still knows its type."""
    landing.mkdir(parents=True, exist_ok=True)
    target = confined(landing, name)
    partial = scratch_path(landing.resolve(), "upload", ".part")
    upload.seek(0)
    with partial.open("wb") as out:
        shutil.copyfileobj(upload, out, 1024 * 1024)
        out.flush()
        os.fsync(out.fileno())
    faults.point("upload.stored")
    try:
        while True:
            try:
                os.link(partial, target)
                break
            except FileExistsError:
                target = confined(landing, _stamped(name))
            except OSError as error:  # a file system without hard links (vfat, some shares)
                if error.errno not in _NO_LINKS:
                    raise
                if target.exists():  # checked then replaced: the race above stays open there
                    target = confined(landing, _stamped(name))
                os.replace(partial, target)
                break
    finally:
        partial.unlink(missing_ok=True)
    return Stored(target, target.stat().st_size)


def _stamped(name: str) -> str:
    """``name`` with a time stamp and a random part before its extension (``.csv.gz`` whole)."""
    inner, compression = split_suffix(Path(name))
    ext = inner + (compression or "")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{name[: len(name) - len(ext)]}-{stamp}-{secrets.token_hex(2)}{ext}"


def sweep_landing(landing: Path) -> list[Path]:
    """Remove the scratch files of uploads whose server was killed mid-store (at start)."""
    return sweep(landing, "upload", ".part")
