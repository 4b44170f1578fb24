"""What an API client is told about a failure: the reason, without the server's file layout.

The CLI's messages name full paths, which help a user on the same machine. A client of the API
sees the name of the file it uploaded and paths relative to the lake (``gold/fact_sales/...``),
never where the server keeps the lake or its landing folder: that layout is none of its
business, and an error message is no place to learn it (decision 0009). The one place the API
words an error for a client, used by the job queue (``reason``), the ``as_of`` refusal and the
health check's ``refresh_error``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retail_lakehouse.sources.errors import FileRefused


def client_message(error: BaseException, roots: Sequence[Path]) -> str:
    """``error``'s message with every path under one of ``roots`` made relative to it; a
    refused file is named by its file name alone."""
    if isinstance(error, FileRefused):
        where = error.path.name + (f", line {error.line}" if error.line is not None else "")
        text = f"{where}: {error.reason}"
    else:
        text = str(error)
    return client_text(text, roots)


def client_text(text: str, roots: Sequence[Path]) -> str:
    """``text`` with every path under one of ``roots`` made relative to it (an error kept as
    text, such as the last failed snapshot refresh that ``/health`` shows without a key)."""
    prefixes = {form for root in roots for form in (str(root), str(root.resolve()))}
    for prefix in sorted(prefixes, key=len, reverse=True):  # landing/ inside the lake first
        text = text.replace(prefix.rstrip(os.sep) + os.sep, "")
    return text


def client_reason(error: BaseException, roots: Sequence[Path]) -> str:
    """A failed job's ``reason``: the error's kind, then :func:`client_message`."""
    return f"{type(error).__name__}: {client_message(error, roots)}"


def client_detail(value: Any, roots: Sequence[Path]) -> Any:
    """A job's JSON ``detail`` with :func:`client_text` applied to every string in it (an
    ingest's notes and warnings name the file where the server keeps it)."""
    if isinstance(value, str):
        return client_text(value, roots)
    if isinstance(value, list):
        return [client_detail(item, roots) for item in value]
    if isinstance(value, dict):
        return {key: client_detail(item, roots) for key, item in value.items()}
    return value
