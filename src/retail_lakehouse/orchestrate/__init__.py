"""Running the pipeline unattended: ``retail watch`` (:mod:`.watch`) and Dagster (:mod:`.dagster`).

``dagster dev -m retail_lakehouse.orchestrate`` finds ``defs`` here. It is built on first access
(module ``__getattr__``), so importing the watcher never imports Dagster, which is an optional
extra and takes seconds to import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from retail_lakehouse.orchestrate.dagster.definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:  # Dagster's loader lists the module's members with dir()
    return sorted([*globals(), "defs"])
