"""Secrets sent in a URL never reach the access log.

The API takes keys only in headers, but a client may still put one in a query string
(``?api_key=...``); uvicorn's access log writes the full path with its query. This filter, on the
access log's handler, replaces the value of every query parameter whose name looks like a
credential with ``[redacted]`` before the line is formatted.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from retail_lakehouse.observe.logging import QUERY_SECRET


def redact_url(text: str) -> str:
    """``text`` with the values of credential-like query parameters replaced (the pattern the
    lake's own log masks them with)."""
    return QUERY_SECRET.sub(r"\g<head>[redacted]", text)


class RedactSecrets(logging.Filter):
    """Redacts credential query parameters in a log record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_url(record.msg)
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with :class:`RedactSecrets` on the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": f"{__name__}.RedactSecrets"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    return config
