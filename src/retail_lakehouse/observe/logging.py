"""Structured logs: one JSON object per event, with the run id, command, layer and table.

Every command logs through :func:`get_logger`: structlog's model (a logger bound to context,
keyword fields, context bound for the whole command) in a few lines of our own, because
importing structlog costs every command 25-30 ms (its package imports its console renderer,
rich's tracebacks and pygments, and its stdlib bridge: decision 0011, ninth round). Two sinks:

- ``<lake>/_logs/retail-YYYY-MM-DD.jsonl``: always JSON, every event at INFO and above, so an
  operator (or a log shipper) has the full history of what ran next to the data;
- standard error: in the format asked for (``--log-format json|console`` or
  ``RETAIL_LOG_FORMAT``). Without either, only warnings and errors reach the terminal, because
  the commands' own tables and progress bars are the human interface there; and of those, not
  the failure of a command or of its layers (:meth:`EventLogger.failure`): whoever ran the
  command says why it failed, once (the CLI's ``error:`` line, the watcher's ``run failed:``,
  the API's job ``reason``), and the same reason three times on one terminal read as three
  failures.

Secrets never reach either sink: a processor masks the values of secret-looking keys (API keys,
tokens, passwords, DSNs), the password part of any connection URL and the value of any
credential-like query parameter inside any string.

The console form on standard error is structlog's ``ConsoleRenderer``, imported the first time
a line is rendered that way (a warning, an error, or ``--log-format console``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Mapping, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

from retail_lakehouse.observe.settings import CONFIG, LogFormat

MASK = "***"
_SECRET_KEY = re.compile(r"(api_?key|token|secret|password|passwd|pwd|dsn|authorization)", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?=@)", re.I)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)
_BEARER = re.compile(r"(?P<head>\bbearer\s+)(?P<pw>[A-Za-z0-9._~+/=-]+)", re.I)
QUERY_SECRET = re.compile(
    r"(?i)(?P<head>[?&](?:[a-z0-9_.-]*(?:key|token|secret|password|passwd|auth|credential|jwt|sig)"
    r"[a-z0-9_.-]*)=)(?P<pw>[^&#\s'\"]*)"
)
"""The value of a credential-like query parameter (``?api_key=...``): in an endpoint's URL
(``OPENLINEAGE_URL``) or a request line of the API's access log (``serve/redact.py``)."""


def redact_text(text: str) -> str:
    """``text`` with passwords in URLs and DSNs, credential query parameters and bearer
    tokens masked."""
    for pattern in (_URL_PASSWORD, _KEYWORD_PASSWORD, _BEARER, QUERY_SECRET):
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
    """Mask secrets in every field of the event (a structlog processor's signature)."""
    for key in list(event):
        event[key] = MASK if _is_secret(key, event[key]) else _redact(event[key])
    return event


class _Sinks:
    """Where rendered events go: the lake's log file and (maybe) standard error."""

    def __init__(self) -> None:
        self.file: Path | None = None
        self.stderr_format: LogFormat | None = None
        self.stderr_level = logging.WARNING
        self.asked = False  # --log-format or RETAIL_LOG_FORMAT: the whole stream, as asked
        self._console: Callable[[Any, str, MutableMapping[str, Any]], str] | None = None

    def console(self, event: MutableMapping[str, Any]) -> str:
        if self._console is None:
            from structlog.dev import ConsoleRenderer

            self._console = ConsoleRenderer(colors=False)
        return self._console(None, "", event)

    def write(self, event: MutableMapping[str, Any], *, reported: bool = False) -> None:
        level = logging.getLevelName(str(event.get("level", "info")).upper())
        line = json.dumps(event, default=str, sort_keys=False)
        if self.file is not None:
            try:
                with self.file.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError:
                pass  # a full or read-only disk never fails a command because of its log
        if reported and not self.asked:
            return  # the caller reports it to its user: once (see the module's docstring)
        if isinstance(level, int) and level >= self.stderr_level:
            stream: TextIO = sys.stderr
            rendered = line if self.stderr_format != "console" else self.console(event)
            print(rendered, file=stream, flush=True)


_SINKS = _Sinks()


_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar(
    "retail_log_context", default=MappingProxyType({})
)
"""What :func:`bind` added: fields of every event logged from here on (this context only)."""


class EventLogger:
    """A logger bound to some fields: ``log.info("event", key=value)`` writes one event with
    the bound fields, the keywords, the event, the command's bound context, the level and the
    time, in that order (structlog's order), secrets masked."""

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context

    def bind(self, **context: Any) -> EventLogger:
        """A logger with ``context`` added to this one's fields."""
        return EventLogger({**self._context, **context})

    def _log(
        self, level: str, event: str, fields: dict[str, Any], *, reported: bool = False
    ) -> None:
        record: dict[str, Any] = {**self._context, **fields, "event": event}
        for key, value in _CONTEXT.get().items():
            record.setdefault(key, value)
        record["level"] = level
        record["ts"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        _SINKS.write(redact_processor(None, level, record), reported=reported)

    def debug(self, event: str, **fields: Any) -> None:
        self._log("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log("error", event, fields)

    def failure(self, event: str, **fields: Any) -> None:
        """An error its caller reports to the user itself (a failed command or layer): in the
        lake's log and in a log stream asked for on standard error, not on the terminal."""
        self._log("error", event, fields, reported=True)

    def refusal(self, event: str, **fields: Any) -> None:
        """A warning its caller reports itself (a refused command: the CLI's ``error:`` line,
        the API's 4xx), kept off the terminal as :meth:`failure` is, so it is said once."""
        self._log("warning", event, fields, reported=True)


def configure(lake_root: Path | None, log_format: LogFormat | None) -> None:
    """Set up the sinks for this process (the CLI calls it once, after reading settings).

    ``log_format`` None keeps standard error for warnings and errors only, in console form."""
    _SINKS.stderr_format = log_format or "console"
    _SINKS.stderr_level = logging.INFO if log_format else logging.WARNING
    _SINKS.asked = log_format is not None
    _SINKS.file = None
    if lake_root is not None:
        use_lake(lake_root)


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


def get_logger(**context: Any) -> EventLogger:
    """A logger bound to ``context`` (run_id, command, layer, table...); the first call sets
    up the sinks from the process settings."""
    if not _configured:
        configure(None, CONFIG.log_format)
        _configured.append(True)
    return EventLogger(context)


def bind(**context: Any) -> None:
    """Bind context (run id, command) to every event logged from here on in this process."""
    _CONTEXT.set({**_CONTEXT.get(), **context})


def unbind(*keys: str) -> None:
    _CONTEXT.set({k: v for k, v in _CONTEXT.get().items() if k not in keys})
