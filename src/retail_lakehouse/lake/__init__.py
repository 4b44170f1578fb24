"""The lake: Delta tables on disk, their contracts, and read access."""

from retail_lakehouse.lake.store import Lake, LakeBusyError

__all__ = ["Lake", "LakeBusyError"]
