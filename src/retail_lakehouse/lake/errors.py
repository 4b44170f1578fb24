"""Errors of the lake that the CLI maps to exit codes without importing the lake itself."""

from __future__ import annotations

import errno

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
"""The error numbers of a full disk (or quota): the machine's state, not a defect or a bad
file (the CLI says so plainly; the reader worker hands it to the command as the lake's
problem, not a refusal of the file)."""


class LakeBusyError(RuntimeError):
    """Another process holds the writer lock."""


class LakeFormatError(RuntimeError):
    """The lake was written in a format newer than this release writes (or its format record
    cannot be read): writing commands refuse it, exit 2 (``lake/lake_format.py``)."""
