"""Process-wide observation settings, kept in a module that imports nothing heavy: the CLI's
callback sets them on every command, while structlog and the OpenLineage client are imported
only by the commands that log or emit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

LogFormat = Literal["console", "json"]


@dataclass
class ObserveConfig:
    """What the CLI, the API and the watcher set once per process."""

    log_format: LogFormat | None = None  # None: warnings and errors only, on stderr
    lineage_url: str | None = None
    namespace: str = "retail-lakehouse"
    metrics_file: Path | None = None
    rule_files: list[Path] = field(default_factory=list)
    lineage: bool = True


CONFIG = ObserveConfig()


def configure(**values: Any) -> None:
    """Update :data:`CONFIG` (an unknown name is an error)."""
    for name, value in values.items():
        if not hasattr(CONFIG, name):
            raise AttributeError(name)
        setattr(CONFIG, name, value)
