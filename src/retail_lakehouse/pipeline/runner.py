"""The built-in runner behind ``retail run``: bronze -> silver -> gold, in one recorded run.

Each layer reads only what its watermark has not seen, commits idempotently, then advances its
watermark, so the runner itself stays a plain sequence: Dagster (see ``orchestrate``) calls the
same layer functions as separate assets. The run ends with the accounting identity through
every layer (:mod:`.accounting`): a broken one fails the run with the numbers.

Restartable: an incremental run interrupted anywhere is simply redone (every layer write is an
overwrite keyed by batch, the watermark comes last). A full refresh is not idempotent that way
(it replaces whole tables), so :func:`recover_run` turns an interrupted one into "rebuild
pending": it removes the watermarks of the layers it had not finished, and the next ``retail
run`` rebuilds those layers from bronze (a layer with no watermark is rebuilt), never "nothing
to do".
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.text import Text

from retail_lakehouse.config import Settings
from retail_lakehouse.engines import open_engine
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.commits import last_run
from retail_lakehouse.lake.consumers import GOLD_CONSUMER, SILVER_CONSUMER
from retail_lakehouse.lake.contracts.meta import (
    META_ALERTS,
    META_QUALITY_RESULTS,
    META_QUALITY_SCORES,
    META_WATERMARKS,
)
from retail_lakehouse.lake.contracts.silver import (
    SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    SILVER_SALES_LINES,
)
from retail_lakehouse.lake.fingerprint import record_settled
from retail_lakehouse.lake.intents import Intent
from retail_lakehouse.lake.maintenance import auto_maintain
from retail_lakehouse.lake.runs import RunContext, recorded_run
from retail_lakehouse.lake.watermarks import watermark_runs
from retail_lakehouse.observe import settings as observe
from retail_lakehouse.observe.command import CommandObserver
from retail_lakehouse.pipeline import gold, silver, table_tests
from retail_lakehouse.pipeline.accounting import check_accounting
from retail_lakehouse.pipeline.bronze_orphans import remove_orphans
from retail_lakehouse.pipeline.errors import GateFailed, PipelineError

RUN_RECOVERY = "retail_lakehouse.pipeline.runner:recover_run"
SILVER_TABLES = (SILVER_SALES_LINES, SILVER_QUARANTINE, SILVER_DUPLICATES)
LAYERS = ("silver", "gold")

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
    notes: list[str] = field(default_factory=list)
    accounting: dict[str, Any] = field(default_factory=dict)

    def render(self) -> Group:
        parts: list[Any] = [Text(note, "yellow") for note in self.notes]
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
    layers: tuple[str, ...] = LAYERS,
    command: str | None = None,
) -> PipelineReport:
    """Process everything pending through silver and gold; raise GateFailed on a failed gate.

    ``layers`` and ``command`` are for Dagster, whose silver and gold assets are separate
    steps: each is this function with one layer (``dagster silver``, ``dagster gold``), so the
    rebuild of an interrupted full refresh, the recovery, lineage and metrics, the accounting
    check and ``[maintenance] auto`` are the ones ``retail run`` has, not a copy that drifts.
    Only a run of every layer records the lake as settled (silver alone leaves gold pending)."""
    unknown = set(layers) - set(LAYERS)
    if unknown or not layers:
        raise ValueError(f"layers must be among {LAYERS}, not {layers}")
    if command is None:
        command = "run --full-refresh" if full_refresh else "run"
    started = time.perf_counter()
    with recorded_run(lake, command, engine=engine_name) as run:
        report = PipelineReport(run.run_id, engine_name)
        report.notes += run.recovered
        if not full_refresh and "silver" in layers and rebuild_pending(lake):
            full_refresh = True
            report.notes.append("silver has no watermark: rebuilding silver and gold from bronze")
        run.note(recovery=RUN_RECOVERY, full_refresh=full_refresh, layers=list(layers))
        report.orphans_removed = remove_orphans(lake) if "silver" in layers else 0
        rules = [*settings.rules, *(extra_rules or [])]
        observer = run.observer or CommandObserver(lake, run)
        if full_refresh or _has_work(lake):
            observe.configure(rule_files=rules)
            observer.begin_work()
        with open_engine(lake, engine_name, settings) as engine, _stopped_noted(run):
            if "silver" in layers:
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
            if "gold" in layers:
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
        # an idle run changed nothing the last check did not see; silver alone (Dagster's
        # silver step) is checked by the gold step after it: gold may be pending a rebuild
        if run.changed and "gold" in layers:
            report.accounting = check_accounting(lake)
        upkeep = settings.maintenance
        if upkeep.auto:  # inside the run: its commits are tagged and under the same lock
            report.maintenance = auto_maintain(lake, upkeep.max_files, upkeep.retain_hours)
            if report.maintenance:  # an otherwise idle run that compacted is recorded too, or
                run.changed = True  # `retail history` would not show whose commits they are
        # still under the writer lock, after the last commit: the next idle run can tell
        if layers == LAYERS:
            record_settled(lake.root, run.run_id if run.changed else None)
    report.recorded = run.changed
    report.seconds = time.perf_counter() - started
    return report


def _has_work(lake: Lake) -> bool:
    """Whether silver or gold has anything to process (decides if the run emits lineage)."""
    from retail_lakehouse.lake.watermarks import read_watermark
    from retail_lakehouse.pipeline.silver.transform import pending_batches

    if pending_batches(lake):
        return True
    silver_mark = read_watermark(lake, SILVER_CONSUMER)
    gold_mark = read_watermark(lake, GOLD_CONSUMER)
    return silver_mark is not None and (gold_mark is None or gold_mark < silver_mark)


@contextlib.contextmanager
def _stopped_noted(run: RunContext) -> Iterator[None]:
    """Note in the intent that a pipeline failure (a gate, a bad rule) stopped the run, which a
    full refresh's recovery tells apart from a crash."""
    try:
        yield
    except PipelineError:
        run.note(stopped=True)
        raise


def rebuild_pending(lake: Lake) -> bool:
    """Silver holds lines but no watermark: an interrupted full refresh left it to be rebuilt."""
    return lake.exists(SILVER_TABLES[0].qualified) and SILVER_CONSUMER not in watermark_runs(lake)


def recover_run(lake: Lake, intent: Intent) -> str:
    """Complete or undo an interrupted ``retail run`` (idempotent; see the module docstring).

    Silver not finished (its watermark not written by the run): the run's quality results,
    scores and alerts go (the redo writes them again). A full refresh that had committed into
    silver loses both watermarks, one that had finished silver loses gold's: the next ``retail
    run`` rebuilds those layers. An incremental run needs nothing more: redoing it is exact.
    Silver finished and its day/month swap check not made: made now, its warnings returned
    (:func:`~.silver.overdue_swap_check`)."""
    marks = watermark_runs(lake)
    silver_owed = "silver" in intent.notes.get("layers", LAYERS)  # Dagster's gold step: not
    silver_done = not silver_owed or marks.get(SILVER_CONSUMER) == intent.run_id
    gold_done = marks.get(GOLD_CONSUMER) == intent.run_id
    said = silver.overdue_swap_check(lake, intent) if silver_done else ""
    quoted = intent.run_id.replace("'", "''")
    if not silver_done:
        for table in (META_QUALITY_RESULTS, META_QUALITY_SCORES, META_ALERTS):
            if lake.exists(table.qualified):
                lake.delete(table.qualified, f"run_id = '{quoted}'")
    if not intent.notes.get("full_refresh") or gold_done:
        return said
    if intent.notes.get("stopped") and not any(
        last_run(lake, table.qualified) == intent.run_id for table in SILVER_TABLES
    ):
        return said  # a gate or a rule stopped it before any commit: the lake is as it was
    consumers = [GOLD_CONSUMER] if silver_done else [SILVER_CONSUMER, GOLD_CONSUMER]
    listed = ", ".join(f"'{c}'" for c in consumers)
    lake.delete(META_WATERMARKS.qualified, f"consumer IN ({listed})")
    rebuilt = f"{' and '.join(consumers)} to be rebuilt by the next run (full refresh)"
    return "; ".join(part for part in (rebuilt, said) if part)
