"""Named commit boundaries of the recovery commands (rollback, retract, restore, optimize,
vacuum), where a fault-injection harness can kill or fail the process.

A no-op today: the trust issue's fault registry (``RETAIL_FAULT=<point>:<kill|enospc>``) plugs
in here, so every boundary is already named where it happens.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def point(name: str) -> None:
    """Mark a commit boundary called ``name`` (nothing happens unless a harness is active)."""
    if _registry is not None:
        _registry(name)


def _find_registry() -> Callable[[str], None] | None:
    """The fault registry of ``lake/faults.py`` once it exists (issue 13), else nothing."""
    try:
        faults = importlib.import_module("retail_lakehouse.lake.faults")
    except ImportError:
        return None
    found: Callable[[str], None] = faults.point
    return found


_registry = _find_registry()
