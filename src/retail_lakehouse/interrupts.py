"""Ctrl-C, remembered for the length of a command.

Python turns SIGINT into a ``KeyboardInterrupt``, but native code running at that moment
turns it into its own error: DuckDB raises ``RuntimeError: Query interrupted``, and delta-rs or
pyarrow reading a DuckDB stream pass that on. A command interrupted by its user was then
reported as an internal error (exit 1) and recorded in ``meta.runs`` as ``failed``. The CLI
notes the key press here, so whatever error surfaces, the command is reported and recorded as
interrupted (exit 130)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

_PRESSED = threading.Event()


def remember_ctrl_c() -> None:
    """Note every SIGINT, then raise ``KeyboardInterrupt`` as Python's own handler does. Only
    replaces Python's default handler (a command with its own, ``retail watch``, keeps it)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _pressed)


def _pressed(signum: int, frame: FrameType | None) -> None:
    _PRESSED.set()
    signal.default_int_handler(signum, frame)


def ctrl_c_pressed() -> bool:
    """Whether the user pressed Ctrl-C (sent SIGINT) during this command."""
    return _PRESSED.is_set()
