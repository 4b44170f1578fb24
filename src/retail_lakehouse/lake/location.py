"""Where the lake is: a folder, given as a path or as a ``file://`` URI.

Every part of the project (delta-rs, DuckDB, the staged folders Spark's executors write into,
the writer lock, the intents journal) works on the lake as a local filesystem, so a lake root is
turned into a local path once, here, when the settings are read. Object-store roots (``s3://``,
``abfss://``, ``gs://``, ``dbfs:``) are refused with a clear message instead of being taken for
a relative folder named ``s3:`` (docs/spark.md says what to do instead: mount the bucket).
Kept free of heavy imports: the settings use it.

A folder whose absolute path delta-rs cannot open is refused here too (:func:`delta_openable`),
so every command says why and exits 2 before writing anything, instead of failing half-way with
"internal error" (decision 0008, addendum on lake folder names).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
# What delta-rs (1.6) cannot open in a local path, found by writing, appending to and reading a
# table in a folder named a<c>b for every ASCII character and a few others: it percent-decodes
# the path once more when it reads the log than when it writes files (``x%20y`` is looked up as
# ``x y``; no encoding of the path satisfies both), it panics on ``[ ] ^ |`` ("Invalid object
# store url"), takes a backslash for a separator and refuses control characters.
_DELTA_UNSAFE = re.compile(r"%[0-9A-Fa-f]{2}|[\x00-\x1f\x7f\[\]\\^|]")


class UnsupportedLakeRoot(ValueError):
    """The lake root is a URI whose scheme the lake cannot write to."""


def local_root(value: str | Path) -> Path:
    """``value`` as a local folder: paths as they are (``~`` expanded), ``file:///abs/path``
    and ``file://localhost/abs/path`` URIs as their path (percent-escapes decoded).

    Raises :class:`UnsupportedLakeRoot` for any other scheme, and for ``file://`` URIs naming
    another host."""
    if isinstance(value, Path):
        return delta_openable(value.expanduser())
    text = str(value)
    scheme = _SCHEME.match(text)
    if scheme is None:  # a plain path (one-letter "schemes" are Windows drive letters)
        return delta_openable(Path(text).expanduser())
    name = scheme.group(1).lower()
    if name != "file":
        # ``sales:2026`` reads like a scheme too; a folder with a colon works given as a path
        # (``./sales:2026``) on every engine (decision 0016, addendum on folder names).
        folder = "" if "://" in text else f"; for a folder named {text!r}, give ./{text}"
        raise UnsupportedLakeRoot(
            f"lake root {text!r}: {name}: lake roots are not supported; mount the store "
            "(s3fs, blobfuse2, gcsfuse, NFS) and give its folder, or a file:// URI "
            f"(docs/spark.md, 'Object stores'){folder}"
        )
    parsed = urlparse(text)
    if parsed.netloc not in ("", "localhost"):
        raise UnsupportedLakeRoot(
            f"lake root {text!r}: file URIs must name this machine (file:///path), "
            f"not the host {parsed.netloc!r}"
        )
    if not parsed.path.startswith("/"):
        raise UnsupportedLakeRoot(f"lake root {text!r}: a file URI needs an absolute path")
    return delta_openable(Path(unquote(parsed.path)))


def delta_openable(folder: Path) -> Path:
    """``folder`` unchanged when delta-rs can hold tables under it; else
    :class:`UnsupportedLakeRoot` naming the offending part. Checked on the absolute path (the
    working folder counts) and on the resolved one (delta-rs follows symbolic links)."""
    for form in (folder.absolute(), folder.resolve()):
        text = str(form)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UnsupportedLakeRoot(
                f"lake folder {text!r}: its name is not valid UTF-8, which Delta Lake's "
                "library (delta-rs) cannot open; rename the folder or choose another"
            ) from None
        found = _DELTA_UNSAFE.search(text)
        if found is not None:
            part = found.group()
            shown = {"\t": "a tab", "\n": "a line break"}.get(part, repr(part))
            if part.startswith("%"):
                why = "Delta Lake's library (delta-rs) reads it as an escaped character"
            elif len(part) == 1 and (part < " " or part == "\x7f"):
                why = "Delta Lake's library (delta-rs) cannot open paths with control characters"
            else:
                why = "Delta Lake's library (delta-rs) cannot open a path holding it"
            raise UnsupportedLakeRoot(
                f"lake folder {text!r}: {shown} in a folder name is not supported ({why}); "
                "rename the folder or choose another (spaces, #, ?, accents are fine)"
            )
    return folder


def data_files(table: Any) -> list[str]:
    """The active data files of a ``deltalake.DeltaTable`` as paths a reader opens as they are.

    delta-rs percent-encodes local paths in ``file_uris()`` (a lake folder ``my lake`` comes
    back as ``my%20lake``), which pyarrow, DuckDB and Hadoop would look up literally: local
    paths are decoded here; URIs with a scheme are left as delta-rs gives them."""
    uris: list[str] = table.file_uris()
    return [uri if _SCHEME.match(uri) and "://" in uri else unquote(uri) for uri in uris]


def add_actions(table: Any) -> Any:
    """The live files of a ``deltalake.DeltaTable`` with their statistics, one row each, as a
    ``pyarrow.Table`` (``path``, ``size_bytes``, ``num_records``, ``min.<column>``...).

    delta-rs returns an arro3 table; ``pa.table()`` of it asks whether it is a pandas frame
    first, which imports pandas (0.2 s), so it is read through the Arrow C stream instead."""
    import pyarrow as pa

    return pa.RecordBatchReader.from_stream(table.get_add_actions(flatten=True)).read_all()


def file_key(root: Path, file: str) -> str | None:
    """``relative path|size|mtime_ns`` of a data file on disk, what per-file figures kept
    beside the lake are looked up by (the accounting check's sums, the swap check's invoices):
    a Delta data file is never changed in place, and one rewritten in place has another size or
    time. None: not a local file."""
    import os

    try:
        stat = os.stat(file)
    except OSError:
        return None
    return f"{os.path.relpath(file, root)}|{stat.st_size}|{stat.st_mtime_ns}"
