"""Where the lake is: a folder, given as a path or as a ``file://`` URI.

Every part of the project (delta-rs, DuckDB, the staged folders Spark's executors write into,
the writer lock, the intents journal) works on the lake as a local filesystem, so a lake root is
turned into a local path once, here, when the settings are read. Object-store roots (``s3://``,
``abfss://``, ``gs://``, ``dbfs:``) are refused with a clear message instead of being taken for
a relative folder named ``s3:`` (docs/spark.md says what to do instead: mount the bucket).
Kept free of heavy imports: the settings use it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


class UnsupportedLakeRoot(ValueError):
    """The lake root is a URI whose scheme the lake cannot write to."""


def local_root(value: str | Path) -> Path:
    """``value`` as a local folder: paths as they are (``~`` expanded), ``file:///abs/path``
    and ``file://localhost/abs/path`` URIs as their path (percent-escapes decoded).

    Raises :class:`UnsupportedLakeRoot` for any other scheme, and for ``file://`` URIs naming
    another host."""
    if isinstance(value, Path):
        return value.expanduser()
    text = str(value)
    scheme = _SCHEME.match(text)
    if scheme is None:  # a plain path (one-letter "schemes" are Windows drive letters)
        return Path(text).expanduser()
    name = scheme.group(1).lower()
    if name != "file":
        raise UnsupportedLakeRoot(
            f"lake root {text!r}: {name}: lake roots are not supported; mount the store "
            "(s3fs, blobfuse2, gcsfuse, NFS) and give its folder, or a file:// URI "
            "(docs/spark.md, 'Object stores')"
        )
    parsed = urlparse(text)
    if parsed.netloc not in ("", "localhost"):
        raise UnsupportedLakeRoot(
            f"lake root {text!r}: file URIs must name this machine (file:///path), "
            f"not the host {parsed.netloc!r}"
        )
    if not parsed.path.startswith("/"):
        raise UnsupportedLakeRoot(f"lake root {text!r}: a file URI needs an absolute path")
    return Path(unquote(parsed.path))


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
