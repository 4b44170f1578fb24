"""The built-in runner behind ``retail run``: bronze -> silver -> gold, in one recorded run.

Each layer reads only what its watermark has not seen, commits idempotently, then advances its
watermark, so the runner itself stays a plain sequence: Dagster (see ``orchestrate``) calls the
same layer functions as separate assets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.text import Text

from retail_lakehouse.config import Settings
from retail_lakehouse.engines import open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.fingerprint import record_settled
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.pipeline import gold, silver
from retail_lakehouse.pipeline.bronze import remove_orphans
from retail_lakehouse.pipeline.errors import GateFailed

__all__ = ["GateFailed", "PipelineReport", "run_pipeline"]


@dataclass
class PipelineReport:
    """What one ``retail run`` did, layer by layer."""

    run_id: str
    engine: str
    seconds: float = 0.0
    orphans_removed: int = 0
    layers: dict[str, Any] = field(default_factory=dict)
    layer_seconds: dict[str, float] = field(default_factory=dict)

    def render(self) -> Group:
        parts: list[Any] = []
        for report in self.layers.values():
            rendered = report.render()
            parts.append(Text(rendered) if isinstance(rendered, str) else rendered)
        parts.append(
            Text(f"run {self.run_id} finished in {self.seconds:.2f}s on {self.engine}", "dim")
        )
        return Group(*parts)


def run_pipeline(
    lake: Lake,
    settings: Settings,
    *,
    full_refresh: bool = False,
    extra_rules: list[Path] | None = None,
    engine_name: str = "duckdb",
    on_layer_done: Callable[[str], None] | None = None,
) -> PipelineReport:
    """Process everything pending through silver and gold; raise GateFailed on a failed gate."""
    command = "run --full-refresh" if full_refresh else "run"
    started = time.perf_counter()
    with recorded_run(lake, command, engine=engine_name) as run:
        report = PipelineReport(run.run_id, engine_name)
        report.orphans_removed = remove_orphans(lake)
        rules = [*settings.rules, *(extra_rules or [])]
        with open_engine(lake, engine_name) as engine:
            clock = time.perf_counter()
            report.layers["silver"] = silver.process(
                lake, engine, run, extra_rules=rules, full_refresh=full_refresh, settings=settings
            )
            report.layer_seconds["silver"] = time.perf_counter() - clock
            if on_layer_done:
                on_layer_done("silver")
            clock = time.perf_counter()
            report.layers["gold"] = gold.process(
                lake, engine, run, full_refresh=full_refresh, settings=settings
            )
            report.layer_seconds["gold"] = time.perf_counter() - clock
            if on_layer_done:
                on_layer_done("gold")
        # still under the writer lock, after the last commit: the next idle run can tell
        record_settled(lake.root, run.run_id)
    report.seconds = time.perf_counter() - started
    return report
