"""Errors of the lake that the CLI maps to exit codes without importing the lake itself."""

from __future__ import annotations


class LakeBusyError(RuntimeError):
    """Another process holds the writer lock."""
