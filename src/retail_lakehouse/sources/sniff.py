"""What a text file is made of: its content hash, encoding and delimiter, in one streamed pass.

Encodings seen in retail exports are UTF-8 (with or without BOM) and Windows-1252/Latin-1 from
older tills and Excel. A file that is valid UTF-8 is UTF-8. A file that is not is legacy-encoded
when valid multi-byte UTF-8 sequences are rare next to broken ones (legacy text forms them only
by accident: fewer than one per ten broken bytes); otherwise it
is UTF-8 with some corrupt lines, which are rejected line by line rather than guessed at.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path

BLOCK = 16 * 1024 * 1024
THREADED_HASH_BYTES = 1024 * 1024
"""Blocks from this size on are hashed on a helper thread (:func:`file_facts`)."""
_BOM = codecs.BOM_UTF8
_VALID_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class FileFacts:
    """Facts about a source file gathered before parsing it."""

    sha256: str
    size: int
    encoding: str  # "utf-8", "utf-8-sig" or "cp1252"
    looks_binary: bool
    clean_utf8: bool  # no undecodable bytes at all: lines need no transcoding


def file_facts(path: Path) -> FileFacts:
    """Hash the file and decide its encoding, reading it once in bounded blocks.

    The SHA-256 of a block runs on a helper thread while this thread checks the same block's
    UTF-8 and reads the next one: OpenSSL's hash releases the GIL, the decoder does not, so the
    two take one core each instead of one after the other (the hash is 60% of this pass, and
    the ingest waits for it before its reader worker starts on the file). At most two blocks
    are held at once."""
    digest = hashlib.sha256()
    size = 0
    valid_multibyte = 0
    broken = 0
    has_bom = False
    head = b""
    analysing = False
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    with path.open("rb") as handle:
        block = handle.read(BLOCK)
        has_bom = block.startswith(_BOM)
        head = block[:HEAD_BYTES]
        while block:
            hashing = _hash_beside(digest, block)
            try:
                size += len(block)
                if not analysing:
                    try:  # the common case, at C speed: the file is clean UTF-8 so far
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        analysing = True  # count good and bad sequences from here on
                if analysing:
                    valid_multibyte += len(_VALID_MULTIBYTE.findall(block))
                    broken += block.decode("utf-8", errors="replace").count("\ufffd")
                following = handle.read(BLOCK)
            finally:  # no thread outlives the call (a command joins all of its threads)
                if hashing is not None:
                    hashing.join()
            block = following
    if not analysing:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            broken += 1  # the file ends inside a multi-byte sequence
    looks_binary = binary_head(head)
    if has_bom:
        encoding = "utf-8-sig"
    elif broken == 0 or valid_multibyte * 10 > broken:
        encoding = "utf-8"
    else:
        encoding = "cp1252"
    return FileFacts(digest.hexdigest(), size, encoding, looks_binary, broken == 0)


HEAD_BYTES = 8192
"""How much of a file's start decides whether a text file is binary."""


def _hash_beside(digest: hashlib._Hash, block: bytes) -> threading.Thread | None:
    """``digest.update(block)`` on a thread of its own, returned to be joined; done here and
    None for a block below :data:`THREADED_HASH_BYTES`, where a thread costs more than it
    saves."""
    if len(block) < THREADED_HASH_BYTES:
        digest.update(block)
        return None
    hashing = threading.Thread(target=digest.update, args=(block,), name="retail-sha256")
    hashing.start()
    return hashing


def binary_head(head: bytes) -> bool:
    """Whether a text file starting with ``head`` (its first :data:`HEAD_BYTES`) is binary:
    a NUL, or more than 5% control bytes. The one rule, for :func:`file_facts` and for the
    ingest's early look at a file before hashing it (:func:`starts_binary`)."""
    return b"\x00" in head or _control_share(head) > 0.05


def starts_binary(path: Path) -> bool:
    """:func:`binary_head` of the file's first bytes (a UTF-8 BOM does not count)."""
    with path.open("rb") as handle:
        return binary_head(handle.read(HEAD_BYTES))


def _control_share(sample: bytes) -> float:
    if not sample:
        return 0.0
    controls = sum(sample.count(bytes([c])) for c in range(32) if c not in (9, 10, 13))
    return controls / len(sample)


def sniff_delimiter(header_line: str, suffix: str) -> str:
    """The delimiter of a delimited text file, judged on its header line."""
    if suffix == ".tsv":
        return "\t"
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 0 else ","


def parse_header(header_line: str, delimiter: str) -> list[str]:
    """Split a header line the way a CSV reader would (quotes allowed)."""
    row = next(csv.reader([header_line], delimiter=delimiter), [])
    return [name.strip() for name in row]
