"""Compressed exports: ``sales.csv.gz`` (or ``.bz2``, ``.xz``) is read as the ``sales.csv`` inside.

Only the text formats may be compressed (Parquet and workbooks compress themselves). Inside the
reader worker, the file is decompressed as a stream, a block at a time, into a copy beside the
staged lines (the lake's disk, not ``/tmp``, which may be memory) that the ordinary readers then
read and that is deleted once they are done. Two limits stop a decompression bomb while it is
being written (``[limits]``): the size of the content (``max_decompressed_mb``) and, past its
first 64 MiB, how many times larger than the compressed bytes read so far it has grown
(``max_compression_ratio``: retail CSVs compress 5-15 times; a bomb a thousand). A damaged or
truncated file is refused with the decompressor's reason. The manifest and the lineage keep
the file as given: its name and the hash of its compressed bytes (decision 0008, addendum).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from retail_lakehouse.lake import faults
from retail_lakehouse.lake.intents import scratch_beside
from retail_lakehouse.sources.errors import FileRefused
from retail_lakehouse.sources.limits import MIB, ReaderLimits

COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}
"""Compression suffix -> its name. The decompressors are imported when a file needs one: the
ingest's parent imports this module only to know which files to pick."""
RATIO_FLOOR = 64 * MIB
"""Content below this size is never judged by its compression ratio: a small file of one
repeated line compresses a hundredfold and is no threat."""
_BLOCK = MIB
MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}
"""How each compressed format starts: a file named ``.bz2`` that does not is not one (a plain
CSV given a compressed name), and content that does was compressed twice."""


def split_suffix(path: Path) -> tuple[str, str | None]:
    """The format suffix and the compression suffix, lower-cased: ``a.CSV.gz`` gives
    ``(".csv", ".gz")``, ``a.csv`` gives ``(".csv", None)``, ``notes.gz`` gives ``("", ".gz")``."""
    last = path.suffix.lower()
    if last in COMPRESSIONS:
        return Path(path.stem).suffix.lower(), last
    return last, None


def copy_path(path: Path, beside: Path) -> Path | None:
    """Where :func:`decompressed` writes the content of ``path`` (None: not compressed). The
    parent deletes it too when the worker was killed before it could."""
    inner, compression = split_suffix(path)
    return None if compression is None else scratch_beside(beside, inner)


@contextlib.contextmanager
def decompressed(path: Path, limits: ReaderLimits, beside: Path) -> Iterator[Path]:
    """``path`` itself when it is not compressed; else its content, decompressed under the
    limits into a file named after ``beside`` (with the inner format's suffix), deleted on
    leaving. FileRefused (naming ``path``) when the file is damaged, truncated or too big."""
    copy = copy_path(path, beside)
    if copy is None:
        yield path
        return
    try:
        _decompress(path, COMPRESSIONS[split_suffix(path)[1] or ""], copy, limits)
        yield copy
    finally:
        copy.unlink(missing_ok=True)


XZ_MEMORY_SHARE = 4
"""An xz file may make its decoder use at most this share of the reader's memory budget
(``limits.reader_memory_mb``; 512 MiB of the default 2,048). The decoder's memory is what the
file's header declares (its dictionary): up to 4 GiB, though ``xz -9`` needs 65 MiB. Without a
limit a file declaring 4 GiB was decoded, its dictionary growing with the content until the
worker was killed at the budget; with it the file is refused at its first block, saying why."""


def _opened(name: str, raw: IO[bytes], limits: ReaderLimits) -> io.BufferedIOBase:
    """A decompressing stream over the raw file: :class:`_StreamsReader` for all three, so the
    streams (gzip members) of a file are counted alike (xz's decoder under a memory limit
    ``lzma.LZMAFile`` does not take)."""
    if name == "gzip":
        return io.BufferedReader(_StreamsReader(raw, _GzipMember, padding=True))
    if name == "bzip2":
        import bz2

        return io.BufferedReader(_StreamsReader(raw, bz2.BZ2Decompressor, padding=False))
    import functools
    import lzma

    memlimit = limits.memory_mb * MIB // XZ_MEMORY_SHARE
    decoder = functools.partial(lzma.LZMADecompressor, memlimit=memlimit)
    return io.BufferedReader(_StreamsReader(raw, decoder, padding=True))


STREAMS_FLOOR = 1000
"""Streams (gzip members) a compressed file may hold whatever its content: concatenated daily
exports, pbzip2's one stream per 900 kB block, bgzip's one member per 64 kB all stay far below
the rule after it."""
STREAM_CONTENT = 4096
"""Past :data:`STREAMS_FLOOR` streams, the content bytes each stream must bring on average.
Every stream costs a decoder and a header in Python (~20 microseconds): a gzip of a million
empty members (20 MB) kept the reader busy 14-24 s for one line; it is refused at its 1,001st."""


class TooManyStreams(Exception):
    """A compressed file made of more streams than its content justifies (see above)."""


class _GzipMember:
    """One gzip member's decoder with the interface of ``bz2.BZ2Decompressor`` (``eof``,
    ``needs_input``, ``unused_data``) that :class:`_StreamsReader` drives; zlib checks the
    member's CRC-32 and size trailer itself (``wbits=31``)."""

    def __init__(self) -> None:
        import zlib

        self._decoder = zlib.decompressobj(31)
        self._full = False  # the last call filled its output: more may be pending inside

    @property
    def eof(self) -> bool:
        return bool(self._decoder.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._decoder.unused_data)

    @property
    def needs_input(self) -> bool:
        return not self._decoder.unconsumed_tail and not self._full

    def decompress(self, data: bytes, max_length: int) -> bytes:
        data = self._decoder.unconsumed_tail + data
        out: bytes = self._decoder.decompress(data, max_length)
        self._full = len(out) == max_length
        return out


class _StreamsReader(io.RawIOBase):
    """A bzip2 or xz file's content, decoded to its end (public ``bz2`` and ``lzma`` only).
    Every stream is decoded (``cat a.xz b.xz``, pbzip2's one stream per block) and, for xz, the
    null Stream Padding its format allows between and after streams is skipped, as ``xz -d``
    does; anything else after a stream raises, naming why. ``bz2.BZ2File`` and
    ``lzma.LZMAFile`` (and the private ``_compression`` reader under them, gone in Python 3.14)
    take any error after the first stream for trailing garbage and end the content there,
    silently: lines appended to the file, or a second xz stream declaring a dictionary past the
    memory limit, were dropped with exit 0."""

    def __init__(self, raw: IO[bytes], decoder: Callable[[], Any], *, padding: bool) -> None:
        self._raw = raw
        self._new = decoder
        self._padding = padding
        self._decoder = decoder()
        self._started = False  # the current decoder has been given input
        self._pending = b""  # input after a stream's end, not yet given to a decoder
        self._streams = 0  # begun so far
        self._content = 0  # bytes decoded so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._next(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _next(self, size: int) -> bytes:
        while True:
            if self._decoder.eof:  # a stream ended: padding, another stream, or the end
                self._pending = self._decoder.unused_data + self._pending
                self._decoder = self._new()
                self._started = False
            if not self._started or self._decoder.needs_input:
                chunk = self._pending or self._raw.read(_BLOCK)
                self._pending = b""
                if not self._started:
                    if self._padding:
                        chunk = chunk.lstrip(b"\0")  # Stream Padding (xz file format, 2.2)
                    if not chunk:
                        if not self._more():
                            return b""  # the end, after a whole stream
                        continue
                    self._streams += 1
                    if self._streams > max(STREAMS_FLOOR, self._content // STREAM_CONTENT):
                        raise TooManyStreams(self._streams, self._content)
                elif not chunk:
                    raise EOFError("Compressed file ended before the end-of-stream marker")
                self._started = True
                data: bytes = self._decoder.decompress(chunk, size)
            else:
                data = self._decoder.decompress(b"", size)
            if data:
                self._content += len(data)
                return data

    def _more(self) -> bool:
        """Whether the file has bytes left (read into ``_pending``)."""
        self._pending = self._raw.read(_BLOCK)
        return bool(self._pending)


def _decompress(path: Path, name: str, copy: Path, limits: ReaderLimits) -> None:
    import lzma
    import zlib

    damaged = (OSError, EOFError, zlib.error, lzma.LZMAError)
    written = 0
    with path.open("rb") as raw, copy.open("wb") as sink:
        head = raw.read(len(MAGIC[name]))
        if not head:
            raise FileRefused(path, "the file is empty")
        if head != MAGIC[name]:
            raise FileRefused(path, f"not a {name} file, despite its name")
        raw.seek(0)
        stream = _opened(name, raw, limits)
        while True:
            try:
                block = stream.read(_BLOCK)
            except damaged as error:
                raise FileRefused(path, _damaged(name, error, limits)) from None
            except TooManyStreams as error:
                streams, content = error.args
                raise FileRefused(
                    path,
                    f"it is made of more than {streams - 1:,} {name} streams for only "
                    f"{content:,} bytes of content (at most {STREAMS_FLOOR:,}, or one per "
                    f"{STREAM_CONTENT:,} bytes; each stream costs a decoder): recompress it "
                    "as one stream",
                ) from None
            if not block:
                break
            inside = next((n for n, m in MAGIC.items() if block.startswith(m)), None)
            if not written and inside is not None and (inside != "bzip2" or block[3:4].isdigit()):
                raise FileRefused(
                    path,
                    f"its content is {inside}-compressed again (compressed twice): decompress "
                    "it once and ingest the file inside",
                )
            written += len(block)
            if written > limits.max_decompressed_bytes:
                raise FileRefused(
                    path,
                    f"its content is larger than {limits.max_decompressed_bytes // MIB:,} MB "
                    "decompressed (limits.max_decompressed_mb)",
                )
            ratio = written / max(raw.tell(), 1)
            if written > RATIO_FLOOR and ratio > limits.max_compression_ratio:
                raise FileRefused(
                    path,
                    f"it expands more than {limits.max_compression_ratio:,} times "
                    f"({raw.tell():,} compressed bytes gave {written:,}; a decompression "
                    "bomb?) (limits.max_compression_ratio)",
                )
            sink.write(block)  # a full disk here is the lake's problem (sandbox: DiskFull)
            faults.point("ingest.decompressing")


def _damaged(name: str, error: Exception, limits: ReaderLimits) -> str:
    """Why the decompressor stopped (the file starts like one of its format: checked first)."""
    text = str(error) or type(error).__name__
    if "memory usage limit" in text.lower():
        return (
            f"the {name} file needs more than {limits.memory_mb // XZ_MEMORY_SHARE:,} MB of "
            f"memory to decompress (its header declares a dictionary that large; a share of "
            "limits.reader_memory_mb)"
        )
    if isinstance(error, EOFError):
        return f"the {name} file is truncated ({text})"
    return f"the {name} file is damaged ({text})"
