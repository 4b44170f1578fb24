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
from dataclasses import dataclass
from pathlib import Path

BLOCK = 16 * 1024 * 1024
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
    """Hash the file and decide its encoding, reading it once in bounded blocks."""
    digest = hashlib.sha256()
    size = 0
    valid_multibyte = 0
    broken = 0
    has_bom = False
    head = b""
    analysing = False
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            if size == 0:
                has_bom = block.startswith(_BOM)
                head = block[:HEAD_BYTES]
            digest.update(block)
            size += len(block)
            if not analysing:
                try:  # the common case, at C speed: the file is clean UTF-8 so far
                    decoder.decode(block)
                    continue
                except UnicodeDecodeError:
                    analysing = True  # count good and bad sequences from here on
            valid_multibyte += len(_VALID_MULTIBYTE.findall(block))
            broken += block.decode("utf-8", errors="replace").count("\ufffd")
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
