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
from retail_lakehouse.lake.maintenance import auto_maintain
from retail_lakehouse.lake.runs import recorded_run
from retail_lakehouse.observe import settings as observe
from retail_lakehouse.observe.command import CommandObserver
from retail_lakehouse.pipeline import gold, silver, table_tests
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
    recorded: bool = False
    """Whether the run changed something and so was recorded in ``meta.runs`` (an idle run is
    not, so its id is not shown: it could not be looked up anywhere)."""
    maintenance: str | None = None

    def render(self) -> Group:
        parts: list[Any] = []
        for report in self.layers.values():
            rendered = report.render()
            parts.append(Text(rendered) if isinstance(rendered, str) else rendered)
        if self.maintenance:
            parts.append(Text(self.maintenance))
        if self.recorded:
            done = f"run {self.run_id} finished in {self.seconds:.2f}s on {self.engine}"
        else:
            done = f"nothing to do: no run recorded ({self.seconds:.2f}s on {self.engine})"
        parts.append(Text(done, "dim"))
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
        observer = run.observer or CommandObserver(lake, run)
        if full_refresh or _has_work(lake):
            observe.configure(rule_files=rules)
            observer.begin_work()
        with open_engine(lake, engine_name, settings) as engine:
            clock = time.perf_counter()
            with observer.layer("silver"):
                report.layers["silver"] = silver.process(
                    lake,
                    engine,
                    run,
                    extra_rules=rules,
                    full_refresh=full_refresh,
                    settings=settings,
                )
            observer.quality(report.layers["silver"].outcome)
            report.layer_seconds["silver"] = time.perf_counter() - clock
            if on_layer_done:
                on_layer_done("silver")
            clock = time.perf_counter()
            with observer.layer("gold"):
                report.layers["gold"] = gold.process(
                    lake, engine, run, full_refresh=full_refresh, settings=settings
                )
            report.layer_seconds["gold"] = time.perf_counter() - clock
            if on_layer_done:
                on_layer_done("gold")
            if not report.layers["gold"].nothing_to_do:  # table tests judge what gold built
                tested = table_tests.process(lake, engine, run, rules)
                if tested is not None:
                    report.layers["tests"] = tested
        upkeep = settings.maintenance
        if upkeep.auto:  # inside the run: its commits are tagged and under the same lock
            report.maintenance = auto_maintain(lake, upkeep.max_files, upkeep.retain_hours)
    report.recorded = run.changed
    report.seconds = time.perf_counter() - started
    return report


def _has_work(lake: Lake) -> bool:
    """Whether silver or gold has anything to process (decides if the run emits lineage)."""
    from retail_lakehouse.lake.watermarks import GOLD_CONSUMER, SILVER_CONSUMER, read_watermark
    from retail_lakehouse.pipeline.silver.transform import pending_batches

    if pending_batches(lake):
        return True
    silver_mark = read_watermark(lake, SILVER_CONSUMER)
    gold_mark = read_watermark(lake, GOLD_CONSUMER)
    return silver_mark is not None and (gold_mark is None or gold_mark < silver_mark)
