"""Engines that execute the project's Ibis transformations."""

from retail_lakehouse.engines.base import Engine, open_engine

__all__ = ["Engine", "open_engine"]
