"""What a writing command tells the world while it runs: logs, lineage events, metrics state.

:func:`retail_lakehouse.lake.runs.recorded_run` creates one :class:`CommandObserver` per
command (CLI, API job, watcher and Dagster alike), so every caller is observed the same way
without knowing about it. The runner marks its layers with :meth:`CommandObserver.layer`.

Lineage events are emitted only for commands that do work: an ingest always does, a ``retail
run`` does once it has found something to process (:meth:`begin_work`), so an idle run stays
cheap (no OpenLineage client import, no events). A failed command always emits its FAIL; a
killed one cannot, so the command that recovers it emits its ABORT (:meth:`aborted`). A command
that refuses its request after it started (``RunContext.refuse``: a retract of a file not in
bronze, an ingest whose every file is refused) logs ``command refused`` and FAILs its started
lineage run with the reason; a refusal decided before the command starts (bad options, no such
run to roll back to) emits nothing, as nothing started.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from retail_lakehouse.observe.logging import bind, get_logger, unbind, use_lake
from retail_lakehouse.observe.settings import CONFIG

if TYPE_CHECKING:
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.intents import Intent
    from retail_lakehouse.lake.runs import RunContext
    from retail_lakehouse.observe.lineage.events import Dataset, JobRun, LineageEmitter
    from retail_lakehouse.quality.results import QualityOutcome


METRICS_STATE = "_metrics/state.json"


class CommandObserver:
    """Logs, lineage and metrics of one writing command."""

    def __init__(self, lake: Lake, run: RunContext) -> None:
        self.lake = lake
        self.run = run
        use_lake(lake.root)
        self.log = get_logger()
        self._clock = time.perf_counter()
        self._emitter: LineageEmitter | None = None
        self._job: JobRun | None = None
        self._layers: dict[str, float] = {}

    # -- the command ---------------------------------------------------------------------------
    def started(self) -> None:
        bind(run_id=self.run.run_id, command=self.run.command)
        self.log.info("command started", engine=self.run.engine)
        if self.run.command != "run" and not self.run.command.startswith("run "):
            self.begin_work()

    def begin_work(self) -> None:
        """The command will change the lake: emit its START (once)."""
        if self._job is not None or not CONFIG.lineage:
            return
        from retail_lakehouse.observe.lineage.events import JobRun, run_uuid

        name = job_name(self.run.command)
        self._job = JobRun(name, run_uuid(self.run.run_id, name), self.run.started_at)
        self._safely(lambda: self._emitter_().start(self._job_(), self._sources()))

    def aborted(self, left: list[Intent]) -> None:
        """Close the lineage runs of the commands this one recovered (killed ones): each gets
        an ABORT naming the recovering run, where it would otherwise stay started for ever."""
        if not left or not CONFIG.lineage:
            return
        from retail_lakehouse.observe.lineage.events import JobRun, run_uuid

        for intent in left:
            name = job_name(intent.command)
            since = datetime.fromtimestamp(intent.started_at, UTC)
            job = JobRun(name, run_uuid(intent.run_id, name), since)
            reason = (
                f"interrupted: the process ended before {intent.command} finished (run "
                f"{intent.run_id}); recovered by run {self.run.run_id}"
            )
            self._safely(lambda j=job, s=since, r=reason: self._emitter_().abort_open(j, s, r))

    def finished(self, status: str, error: str | None = None) -> None:
        seconds = round(time.perf_counter() - self._clock, 3)
        rows = {t: c for t, c in self.run.rows.items() if c.get("in") or c.get("out")}
        if status == "failed":
            self.log.failure("command failed", error=error, seconds=seconds, rows=rows)
            self.begin_work()
            if self._job is not None:
                job = self._job
                self._safely(lambda: self._emitter_().fail(job, error or "failed"))
        elif status == "refused":  # exit 2: the START already sent ends in a FAIL, not COMPLETE
            self.log.refusal("command refused", status=status, reason=error, seconds=seconds)
            if self._job is not None:
                job = self._job
                self._safely(lambda: self._emitter_().fail(job, f"refused: {error}"))
        else:
            extra = {"refused": error} if error else {}
            self.log.info("command finished", status=status, seconds=seconds, rows=rows, **extra)
            if self._job is not None:
                self._complete(self._job, self._all_inputs(), self._outputs(None))
        self._save_metrics_state(status, seconds)
        unbind("run_id", "command")

    # -- layers and tables ---------------------------------------------------------------------
    @contextlib.contextmanager
    def layer(self, name: str) -> Iterator[None]:
        """Observe one layer of a run: log it, and emit its job (and its tables' jobs)."""
        started = datetime.now(UTC)
        clock = time.perf_counter()
        log = self.log.bind(layer=name)
        log.info("layer started")
        try:
            yield
        except BaseException as error:
            log.failure("layer failed", error=f"{type(error).__name__}: {error}")
            raise
        seconds = round(time.perf_counter() - clock, 3)
        self._layers[name] = seconds
        outputs = self._outputs(name)
        for dataset in outputs:
            log.info("table written", table=dataset.table, rows=dataset.rows, seconds=seconds)
        log.info("layer finished", seconds=seconds, tables=len(outputs))
        if outputs and self._job is not None:
            self._emit_layer(name, started, outputs)

    def quality(self, outcome: QualityOutcome | None) -> None:
        """Emit the quality pass of silver as a job whose input carries the DQ facets."""
        if outcome is None or self._job is None:
            return
        self._safely(lambda: self._emit_quality(outcome))

    # -- helpers -------------------------------------------------------------------------------
    def _emit_layer(self, name: str, started: datetime, outputs: list[Dataset]) -> None:
        from retail_lakehouse.observe.lineage.events import Dataset, JobRun, run_uuid

        parent = self._job_()
        job_name = f"{parent.name}.{name}"
        layer_job = JobRun(job_name, run_uuid(self.run.run_id, job_name), started, parent)
        columns = self._emitter_().columns
        read = {u for d in outputs if columns for u in columns.upstream_tables(d.table or "")}
        upstream = sorted(read - {d.table for d in outputs})
        inputs = [Dataset(table=t) for t in upstream if not t.startswith("reference.")]
        self._safely(lambda: self._emitter_().start(layer_job, inputs))
        for dataset in outputs:
            table = dataset.table or ""
            table_name = f"{job_name}.{table.partition('.')[2]}"
            table_id = run_uuid(self.run.run_id, table_name)
            table_job = JobRun(table_name, table_id, started, layer_job)
            sources = sorted(columns.upstream_tables(table)) if columns else []
            table_inputs = [Dataset(table=t) for t in sources if not t.startswith("reference.")]
            self._safely(lambda j=table_job, i=table_inputs: self._emitter_().start(j, i))
            self._complete(table_job, table_inputs, [dataset])
        self._complete(layer_job, inputs, outputs)

    def _emit_quality(self, outcome: QualityOutcome) -> None:
        from retail_lakehouse.observe.lineage.events import Dataset, JobRun, run_uuid
        from retail_lakehouse.observe.lineage.facets import facet

        parent = self._job_()
        name = f"{parent.name}.silver.quality"
        job = JobRun(name, run_uuid(self.run.run_id, name), datetime.now(UTC), parent)
        nulls = _null_counts(self.lake, "silver.sales_lines")
        facets = {
            "dataQualityMetrics": facet(
                "DataQualityMetricsInputDatasetFacet",
                rowCount=outcome.lines_checked,
                columnMetrics={c: {"nullCount": n, "quantiles": {}} for c, n in nulls.items()},
            ),
            "dataQualityAssertions": facet(
                "DataQualityAssertionsDatasetFacet",
                assertions=[
                    {
                        "assertion": r.rule.dimension,
                        "name": r.name,
                        "success": r.lines_failed == 0,
                        "severity": "error" if r.rule.action == "fail" else "warn",
                        "description": r.rule.description or None,
                        "actual": str(r.lines_failed),
                        "params": {},
                    }
                    for r in outcome.rules
                ],
            ),
        }
        dataset = Dataset(table="silver.sales_lines", extra_input_facets=facets)
        self._emitter_().start(job, [dataset])
        self._emitter_().complete(job, [dataset], [])

    def _complete(self, job: JobRun, inputs: list[Dataset], outputs: list[Dataset]) -> None:
        self._safely(lambda: self._emitter_().complete(job, inputs, outputs))

    def _job_(self) -> JobRun:
        assert self._job is not None
        return self._job

    def _emitter_(self) -> LineageEmitter:
        if self._emitter is None:
            from retail_lakehouse.observe.lineage.columns import column_lineage
            from retail_lakehouse.observe.lineage.events import LineageEmitter

            columns = None
            if self.run.command.startswith("run"):
                from retail_lakehouse.pipeline.errors import RulesError

                try:
                    columns = column_lineage(self.lake, CONFIG.rule_files)
                except RulesError:  # the run failed on them: its events carry no columns
                    columns = None
            self._emitter = LineageEmitter(
                self.lake, url=CONFIG.lineage_url, namespace=CONFIG.namespace, columns=columns
            )
        return self._emitter

    def _sources(self) -> list[Dataset]:
        from retail_lakehouse.observe.lineage.events import Dataset

        return [Dataset(path=str(p)) for p in self.run.sources]

    def _all_inputs(self) -> list[Dataset]:
        from retail_lakehouse.observe.lineage.events import datasets

        return self._sources() + datasets(self.run.rows, "in")

    def _outputs(self, layer: str | None) -> list[Dataset]:
        from retail_lakehouse.observe.lineage.events import datasets

        rows = {
            t: c for t, c in self.run.rows.items() if layer is None or t.startswith(layer + ".")
        }
        found = datasets(rows, "out")
        if layer is None:
            from retail_lakehouse.observe.lineage.events import Dataset

            found += [Dataset(external=(n, name), rows=r) for n, name, r in self.run.external]
        return found

    def _safely(self, action: Any) -> None:
        """Lineage never fails a command: a problem is logged as a warning."""
        try:
            action()
        except Exception as error:
            self.log.warning("lineage event not written", error=f"{type(error).__name__}: {error}")

    def _save_metrics_state(self, status: str, seconds: float) -> None:
        """Per-layer durations of the last run (the lake's tables hold everything else the
        metrics report), then the node-exporter textfile when one is configured."""
        path = self.lake.root / METRICS_STATE
        try:
            state = json.loads(path.read_text()) if path.is_file() else {}
            if self._layers:
                state["layers"] = self._layers
            state.setdefault("commands", {})[self.run.command.split()[0]] = {
                "status": status,
                "seconds": seconds,
                "finished_at": datetime.now(UTC).timestamp(),
            }
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(".tmp")
            scratch.write_text(json.dumps(state))
            scratch.replace(path)
            if CONFIG.metrics_file is not None:
                from retail_lakehouse.observe.metrics import write_textfile

                write_textfile(self.lake, CONFIG.metrics_file)
        except OSError as error:
            self.log.warning("metrics not written", error=str(error))


def job_name(command: str) -> str:
    """The OpenLineage job of a command line (``vacuum --retain 0h``: ``retail.vacuum``)."""
    return "retail." + command.split(maxsplit=1)[0].replace("-", "_")


def _null_counts(lake: Lake, table: str) -> dict[str, int]:
    """Null counts per column from the Delta log's file statistics (no data is read)."""
    actions = lake.file_stats(table)
    if actions is None:
        return {}
    counts: dict[str, int] = {}
    for name in actions.column_names:
        if name.startswith("null_count."):
            values = actions.column(name).to_pylist()
            counts[name.removeprefix("null_count.")] = int(sum(v or 0 for v in values))
    return counts
