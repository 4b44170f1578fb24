"""Structured logs: one JSON object per event, with the run id, command, layer and table.

Every command logs through structlog. Two sinks:

- ``<lake>/_logs/retail-YYYY-MM-DD.jsonl``: always JSON, every event at INFO and above, so an
  operator (or a log shipper) has the full history of what ran next to the data;
- standard error: in the format asked for (``--log-format json|console`` or
  ``RETAIL_LOG_FORMAT``). Without either, only warnings and errors reach the terminal, because
  the commands' own tables and progress bars are the human interface there.

Secrets never reach either sink: a processor masks the values of secret-looking keys (API keys,
tokens, passwords, DSNs) and the password part of any connection URL inside any string.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import structlog

from retail_lakehouse.observe.settings import CONFIG, LogFormat

MASK = "***"
_SECRET_KEY = re.compile(r"(api_?key|token|secret|password|passwd|pwd|dsn|authorization)", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?=@)", re.I)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)
_BEARER = re.compile(r"(?P<head>\bbearer\s+)(?P<pw>[A-Za-z0-9._~+/=-]+)", re.I)


def redact_text(text: str) -> str:
    """``text`` with passwords in URLs and DSNs and bearer tokens masked."""
    for pattern in (_URL_PASSWORD, _KEYWORD_PASSWORD, _BEARER):
        text = pattern.sub(lambda m: m.group("head") + MASK, text)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: MASK if _is_secret(k, v) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def _is_secret(key: object, value: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key)) and value is not None


def redact_processor(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets in every field of the event."""
    for key in list(event):
        event[key] = MASK if _is_secret(key, event[key]) else _redact(event[key])
    return event


class _Sinks:
    """Where rendered events go: the lake's log file and (maybe) standard error."""

    def __init__(self) -> None:
        self.file: Path | None = None
        self.stderr_format: LogFormat | None = None
        self.stderr_level = logging.WARNING
        self.console = structlog.dev.ConsoleRenderer(colors=False)

    def write(self, event: MutableMapping[str, Any]) -> None:
        level = logging.getLevelName(str(event.get("level", "info")).upper())
        line = json.dumps(event, default=str, sort_keys=False)
        if self.file is not None:
            try:
                with self.file.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError:
                pass  # a full or read-only disk never fails a command because of its log
        if isinstance(level, int) and level >= self.stderr_level:
            stream: TextIO = sys.stderr
            rendered = line if self.stderr_format != "console" else self.console(None, "", event)
            print(rendered, file=stream, flush=True)


_SINKS = _Sinks()


def _emit(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    _SINKS.write(event)
    raise structlog.DropEvent


def configure(lake_root: Path | None, log_format: LogFormat | None) -> None:
    """Set up the sinks for this process (the CLI calls it once, after reading settings).

    ``log_format`` None keeps standard error for warnings and errors only, in console form."""
    _SINKS.stderr_format = log_format or "console"
    _SINKS.stderr_level = logging.INFO if log_format else logging.WARNING
    _SINKS.file = None
    if lake_root is not None:
        use_lake(lake_root)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            redact_processor,
            _emit,
        ],
        cache_logger_on_first_use=False,
    )


def use_lake(lake_root: Path) -> None:
    """Write the lake's log file from now on, once the lake folder exists (a command that
    creates the lake calls this again after creating it)."""
    if not _configured:
        configure(None, CONFIG.log_format)
        _configured.append(True)
    if _SINKS.file is not None or not lake_root.is_dir():
        return
    folder = lake_root / "_logs"
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return
    _SINKS.file = folder / f"retail-{datetime.now(UTC):%Y-%m-%d}.jsonl"


_configured: list[bool] = []


def get_logger(**context: Any) -> Any:
    """A logger bound to ``context`` (run_id, command, layer, table...); the first call sets
    up the sinks from the process settings."""
    if not _configured:
        configure(None, CONFIG.log_format)
        _configured.append(True)
    return structlog.get_logger().bind(**context)


def bind(**context: Any) -> None:
    """Bind context (run id, command) to every event logged from here on in this process."""
    structlog.contextvars.bind_contextvars(**context)


def unbind(*keys: str) -> None:
    structlog.contextvars.unbind_contextvars(*keys)
