"""Named commit boundaries of the recovery commands (rollback, retract, restore, optimize,
vacuum), where a fault-injection harness can kill or fail the process.

A no-op today: the trust issue's fault registry (``RETAIL_FAULT=<point>:<kill|enospc>``) plugs
in here, so every boundary is already named where it happens.
"""

from __future__ import annotations


def point(name: str) -> None:
    """Mark a commit boundary called ``name`` (nothing happens unless a harness is active)."""
    del name
