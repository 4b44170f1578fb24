"""Engines that execute the project's Ibis transformations."""

from retail_lakehouse.engines import ibis_compilers  # noqa: F401 - before any Ibis backend loads
from retail_lakehouse.engines.base import Engine, open_engine

__all__ = ["Engine", "open_engine"]
