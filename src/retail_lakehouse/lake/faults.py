"""Deterministic fault injection at the lake's commit boundaries (a test hook, free in production).

Every Delta commit of the project goes through :mod:`retail_lakehouse.lake.commits`, which calls
:func:`point` just before and just after it (``before:<table>`` / ``after:<table>``), and a few
non-commit boundaries call it by name (``ingest.staged``: the lines file written, not committed).
So the set of fault points is the set of commits a command really makes: nothing to register by
hand, and a new commit boundary cannot be forgotten.

Two environment variables, read ONCE at import:

- ``RETAIL_FAULT=<point>[@<n>]:<kill|enospc|hang>`` makes the ``n``-th (default first) arrival
  at ``<point>`` either SIGKILL the process (``kill``: nothing after it runs, not even
  ``finally``), raise ``OSError(ENOSPC)`` (``enospc``: the command fails the way a full disk
  fails it), or stop there for an hour (``hang``: a writer caught mid-command, for tests of
  what others see meanwhile).
- ``RETAIL_FAULT_TRACE=<file>`` appends every point reached, one per line, so a test can list the
  points of a fault-free command and then fault each one.

Unset (production), :func:`point` is one comparison against ``None``.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections import Counter

MODES = ("kill", "enospc", "hang")


def _parse(spec: str | None) -> tuple[str, int, str] | None:
    if not spec:
        return None
    where, _, mode = spec.rpartition(":")
    if mode not in MODES or not where:
        raise ValueError(f"RETAIL_FAULT must be <point>[@n]:<kill|enospc|hang>, not {spec!r}")
    name, _, nth = where.partition("@")
    return name, int(nth or 1), mode


_ARMED = _parse(os.environ.get("RETAIL_FAULT"))
_TRACE = os.environ.get("RETAIL_FAULT_TRACE") or None
_HITS: Counter[str] = Counter()


def point(name: str) -> None:
    """A named boundary: fire the armed fault here, or record the passage when tracing."""
    if _ARMED is None and _TRACE is None:
        return
    _HITS[name] += 1
    if _TRACE is not None:
        with open(_TRACE, "a", encoding="utf-8") as trace:
            trace.write(f"{name}@{_HITS[name]}\n")
    if _ARMED is not None and _ARMED[0] == name and _ARMED[1] == _HITS[name]:
        if _ARMED[2] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if _ARMED[2] == "hang":
            time.sleep(3600)
        raise OSError(errno.ENOSPC, f"No space left on device (injected at {name})")
