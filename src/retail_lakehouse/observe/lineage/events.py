"""OpenLineage events for every command that writes (spec 2-0-2, built by ``facets.py``).

A command is an OpenLineage job (``retail.ingest``, ``retail.run``, ...); each layer and each
table job inside a run is a child job whose run points at the command's run through the
``parent`` facet. Outputs carry the schema and documentation facets (from the table
contracts), output statistics (rows written, table bytes and files) and, for silver and gold,
the column lineage facet derived from the transformation definitions. The quality pass is a job
of its own whose input, silver's lines, carries the data-quality metrics and assertions.

Transport: every event is appended to ``<lake>/_lineage/events-YYYY-MM-DD.ndjson``, one JSON
line each. When an HTTP endpoint is configured (``OPENLINEAGE_URL`` or
``lineage_url`` in retail.toml; Marquez or any OpenLineage receiver), events are posted there
too; when it is down the event is kept in ``_lineage/outbox.ndjson`` and sent before the next
one. A lineage problem never fails the pipeline: it is logged as a warning.

The events are plain JSON objects: the openlineage-python client took 0.37 s to import in every
command that emits, for constructors and a JSON writer (see ``facets.py``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from retail_lakehouse import __version__
from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.location import add_actions
from retail_lakehouse.observe.lineage.columns import REFERENCE_PREFIX, ColumnLineage
from retail_lakehouse.observe.lineage.facets import PRODUCER, RUN_EVENT_SCHEMA, facet, to_json

FILE_NAMESPACE = "file"
DEFAULT_NAMESPACE = "retail-lakehouse"


@dataclass
class Dataset:
    """A dataset as the lineage sees it: a lake table or a source file."""

    table: str | None = None  # layer.table
    path: str | None = None  # a source file
    external: tuple[str, str] | None = None  # (namespace, name) outside the lake
    rows: int | None = None
    extra_input_facets: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobRun:
    """One OpenLineage run: a command, or a job inside one."""

    name: str
    run_id: str
    started_at: datetime
    parent: JobRun | None = None


def run_uuid(retail_run_id: str, job: str) -> str:
    """A stable OpenLineage run id (a UUID) for a retail run id and a job inside it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"retail-lakehouse:{retail_run_id}:{job}"))


class LineageEmitter:
    """Builds and sends the events of one lake."""

    def __init__(
        self,
        lake: Lake,
        *,
        url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        columns: ColumnLineage | None = None,
    ) -> None:
        self.lake = lake
        self.url = url if url is not None else os.environ.get("OPENLINEAGE_URL") or None
        self.namespace = namespace
        self.columns = columns
        self.folder = lake.root / "_lineage"
        self._file: Path | None = None
        # table -> (schema facet, size, files): read once per command, after its commits
        self._described: dict[str, tuple[dict[str, Any] | None, int | None, int | None]] = {}

    # -- events ------------------------------------------------------------------------------
    def start(self, job: JobRun, inputs: Iterable[Dataset] = ()) -> None:
        self._send("START", job, job.started_at, inputs, ())

    def complete(
        self, job: JobRun, inputs: Iterable[Dataset] = (), outputs: Iterable[Dataset] = ()
    ) -> None:
        self._send("COMPLETE", job, datetime.now(UTC), inputs, outputs)

    def fail(self, job: JobRun, error: str, inputs: Iterable[Dataset] = ()) -> None:
        self._send("FAIL", job, datetime.now(UTC), inputs, (), error=error)

    def abort_open(self, job: JobRun, since: datetime, reason: str) -> int:
        """ABORT ``job`` and each of its child runs that started (since ``since``) and never
        ended: a killed command emits no end, and consumers (Marquez) would show it running
        for ever. Returns how many were closed."""
        first = f"events-{since.astimezone(UTC):%Y-%m-%d}.ndjson"
        started: dict[str, dict[str, Any]] = {}
        ended: set[str] = set()
        for path in sorted(self.folder.glob("events-*.ndjson")):
            if path.name < first:
                continue
            for line in path.read_text().splitlines():
                event = json.loads(line) if line.strip() else {}
                if event.get("eventType") == "START":
                    started[event["run"]["runId"]] = event
                elif event.get("eventType") in ("COMPLETE", "FAIL", "ABORT"):
                    ended.add(event["run"]["runId"])
        runs = {job.run_id: job}
        for run_id, event in started.items():  # a parent's START comes before its children's
            parent = event["run"]["facets"].get("parent", {}).get("run", {}).get("runId")
            if parent in runs:
                runs[run_id] = JobRun(event["job"]["name"], run_id, job.started_at, runs[parent])
        open_runs = [
            run for run_id, run in runs.items() if run_id in started and run_id not in ended
        ]
        for run in reversed(open_runs):  # children first, as a finishing command does
            self._send("ABORT", run, datetime.now(UTC), (), (), error=reason)
        return len(open_runs)

    # -- building ----------------------------------------------------------------------------
    def _send(
        self,
        kind: str,
        job: JobRun,
        when: datetime,
        inputs: Iterable[Dataset],
        outputs: Iterable[Dataset],
        error: str | None = None,
    ) -> None:
        event = {
            "eventType": kind,
            "eventTime": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "run": {"runId": job.run_id, "facets": self._run_facets(job, error)},
            "job": {"namespace": self.namespace, "name": job.name, "facets": self._job_facets()},
            "producer": PRODUCER,
            "schemaURL": RUN_EVENT_SCHEMA,
            "inputs": [self._input(d) for d in inputs],
            "outputs": [self._output(d) for d in outputs],
        }
        self._deliver(to_json(event))

    def _run_facets(self, job: JobRun, error: str | None) -> dict[str, Any]:
        facets: dict[str, Any] = {
            "processing_engine": facet(
                "ProcessingEngineRunFacet", version=__version__, name="retail-lakehouse"
            )
        }
        if job.parent is not None:
            facets["parent"] = facet(
                "ParentRunFacet",
                run={"runId": job.parent.run_id, "facets": {}},
                job={"namespace": self.namespace, "name": job.parent.name, "facets": {}},
            )
        if error is not None:
            facets["errorMessage"] = facet(
                "ErrorMessageRunFacet", message=error, programmingLanguage="PYTHON"
            )
        return facets

    def _job_facets(self) -> dict[str, Any]:
        return {
            "jobType": facet(
                "JobTypeJobFacet",
                processingType="BATCH",
                integration="RETAIL_LAKEHOUSE",
                jobType="JOB",
            )
        }

    def dataset_name(self, table: str) -> str:
        layer, _, name = table.partition(".")
        return str(self.lake.root / layer / name)

    def _input(self, dataset: Dataset) -> dict[str, Any]:
        namespace, name, facets = self._identity(dataset)
        return {
            "namespace": namespace,
            "name": name,
            "facets": facets,
            "inputFacets": dataset.extra_input_facets or None,
        }

    def _output(self, dataset: Dataset) -> dict[str, Any]:
        namespace, name, facets = self._identity(dataset)
        output_facets: dict[str, Any] = {}
        if dataset.table is not None:
            size, files = self._table_size(dataset.table)
            output_facets["outputStatistics"] = facet(
                "OutputStatisticsOutputDatasetFacet",
                rowCount=dataset.rows,
                size=size,
                fileCount=files,
            )
            lineage = self._column_lineage(dataset.table)
            if lineage is not None:
                facets["columnLineage"] = lineage
        return {
            "namespace": namespace,
            "name": name,
            "facets": facets,
            "outputFacets": output_facets,
        }

    def _identity(self, dataset: Dataset) -> tuple[str, str, dict[str, Any]]:
        if dataset.external is not None:
            return dataset.external[0], dataset.external[1], {}
        if dataset.table is None:
            return FILE_NAMESPACE, str(Path(dataset.path or "").absolute()), {}
        facets: dict[str, Any] = {
            "symlinks": facet(
                "SymlinksDatasetFacet",
                identifiers=[{"namespace": self.namespace, "name": dataset.table, "type": "TABLE"}],
            )
        }
        schema = self._schema(dataset.table)
        if schema is not None:
            facets["schema"] = schema
        from retail_lakehouse.lake.contracts import contract

        try:
            text = contract(dataset.table).description
        except KeyError:
            text = ""
        if text:
            facets["documentation"] = facet("DocumentationDatasetFacet", description=text)
        return FILE_NAMESPACE, self.dataset_name(dataset.table), facets

    def _schema(self, table: str) -> dict[str, Any] | None:
        return self._table_facts(table)[0]

    def _table_size(self, table: str) -> tuple[int | None, int | None]:
        _, size, files = self._table_facts(table)
        return size, files

    def _table_facts(self, table: str) -> tuple[dict[str, Any] | None, int | None, int | None]:
        """The schema facet and size of a table, from one read of its Delta log."""
        if table not in self._described:
            from retail_lakehouse.lake.contracts import contract

            delta = self.lake.delta(table)
            if delta is None:
                self._described[table] = (None, None, None)
                return self._described[table]
            try:
                target = contract(table)
            except KeyError:
                target = None
            arrow = pa.schema(delta.schema().to_arrow())
            schema = facet(
                "SchemaDatasetFacet",
                fields=[
                    {
                        "name": f.name,
                        "type": str(f.type),
                        "description": (target.column_description(f.name) if target else "")
                        or None,
                        "fields": [],
                    }
                    for f in arrow
                ],
            )
            actions = add_actions(delta)
            sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
            self._described[table] = (schema, int(sum(sizes)), len(sizes))
        return self._described[table]

    def _column_lineage(self, table: str) -> dict[str, Any] | None:
        if self.columns is None or table not in self.columns.columns:
            return None

        def field_of(source: str, column: str, kind: str) -> dict[str, Any]:
            if source.startswith(REFERENCE_PREFIX):
                namespace, name = self.namespace, source
            else:
                namespace, name = FILE_NAMESPACE, self.dataset_name(source)
            return {
                "namespace": namespace,
                "name": name,
                "field": column,
                "transformations": [{"type": kind, "subtype": ""}],
            }

        fields = {
            column: {
                "inputFields": [field_of(s, c, "DIRECT") for s, c in sorted(sources)],
                "transformationType": "",
                "transformationDescription": "",
            }
            for column, sources in self.columns.columns[table].items()
            if sources
        }
        indirect = [field_of(s, c, "INDIRECT") for s, c in sorted(self.columns.indirect[table])]
        return facet("ColumnLineageDatasetFacet", fields=fields, dataset=indirect)

    # -- delivery ----------------------------------------------------------------------------
    def _deliver(self, line: str) -> None:
        """Append the event to the day's file; post it (and any kept ones) when a URL is set."""
        if self._file is None:  # one file per command, named by the day it started emitting
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file = self.folder / f"events-{datetime.now(UTC):%Y-%m-%d}.ndjson"
        with self._file.open("a") as events:
            events.write(line + "\n")
        if not self.url:
            return
        outbox = self.folder / "outbox.ndjson"
        waiting = outbox.read_text().splitlines() if outbox.is_file() else []
        waiting.append(line)
        left = self._post_all(_HttpPoster(self.url), waiting)
        if left:
            outbox.write_text("".join(kept + "\n" for kept in left))
            from retail_lakehouse.observe.logging import get_logger

            get_logger().warning(
                "lineage endpoint unreachable; events kept for later",
                url=self.url,
                kept=len(left),
            )
        elif outbox.exists():
            outbox.unlink()

    @staticmethod
    def _post_all(http_client: Any, lines: list[str]) -> list[str]:
        """Post the kept events in order; return those not accepted (from the first failure)."""
        import httpx

        for index, line in enumerate(lines):
            try:
                response = http_client.post(content=line)
                response.raise_for_status()
            except httpx.HTTPError:
                return lines[index:]
        return []


class _HttpPoster:
    """Posts serialised events to an OpenLineage HTTP endpoint (``<url>/api/v1/lineage``).

    The client's own HTTP transport retries for minutes with back-off when the endpoint is
    down; a pipeline run must not wait for that, so a short timeout is used here and the
    outbox does the retrying, across runs."""

    def __init__(self, url: str) -> None:
        self.endpoint = url.rstrip("/") + "/api/v1/lineage"

    def post(self, content: str) -> Any:
        import httpx

        return httpx.post(
            self.endpoint,
            content=content,
            headers={"Content-Type": "application/json"},
            timeout=3.0,
        )


def datasets(tables: Mapping[str, Mapping[str, int]], direction: str) -> list[Dataset]:
    """Datasets from a run's row counts (``{"table": {"in": n, "out": m}}``)."""
    return [
        Dataset(table=name, rows=counts.get(direction))
        for name, counts in sorted(tables.items())
        if counts.get(direction)
    ]


def events_in(folder: Path) -> list[dict[str, Any]]:
    """Every event stored in a lake's ``_lineage`` folder (oldest first)."""
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("events-*.ndjson")):
        found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return found
