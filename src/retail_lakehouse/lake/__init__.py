"""The lake: Delta tables on disk, their contracts, and read access.

``Lake`` is resolved on first use (PEP 562): the CLI imports this package for its light
submodules (``errors``, ``state``) and must not pay for pyarrow and delta-rs until a command
actually opens a table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retail_lakehouse.lake.errors import LakeBusyError

if TYPE_CHECKING:
    from retail_lakehouse.lake.store import Lake

__all__ = ["Lake", "LakeBusyError"]


def __getattr__(name: str) -> Any:
    if name == "Lake":
        from retail_lakehouse.lake.store import Lake

        return Lake
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
