"""OpenLineage events for every command that writes, sent with the openlineage-python client.

A command is an OpenLineage job (``retail.ingest``, ``retail.run``, ...); each layer and each
table job inside a run is a child job whose run points at the command's run through the
``parent`` facet. Outputs carry the schema and documentation facets (from the table
contracts), output statistics (rows written, table bytes and files) and, for silver and gold,
the column lineage facet derived from the transformation definitions. The quality pass is a job
of its own whose input, silver's lines, carries the data-quality metrics and assertions.

Transport: every event is appended to ``<lake>/_lineage/events-YYYY-MM-DD.ndjson`` by the
client's file transport. When an HTTP endpoint is configured (``OPENLINEAGE_URL`` or
``lineage_url`` in retail.toml; Marquez or any OpenLineage receiver), events are posted there
too; when it is down the event is kept in ``_lineage/outbox.ndjson`` and sent before the next
one. A lineage problem never fails the pipeline: it is logged as a warning.

The client package takes about half a second to import, so it is imported only when a command
actually emits (an idle ``retail run`` emits nothing).
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
from retail_lakehouse.observe.lineage.columns import REFERENCE_PREFIX, ColumnLineage

PRODUCER = f"https://github.com/retail-lakehouse/retail-lakehouse/tree/{__version__}"
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
        self._clients: tuple[Any, Any | None] | None = None
        # table -> (schema facet, size, files): read once per command, after its commits
        self._described: dict[str, tuple[Any, int | None, int | None]] = {}

    # -- events ------------------------------------------------------------------------------
    def start(self, job: JobRun, inputs: Iterable[Dataset] = ()) -> None:
        self._send("START", job, job.started_at, inputs, ())

    def complete(
        self, job: JobRun, inputs: Iterable[Dataset] = (), outputs: Iterable[Dataset] = ()
    ) -> None:
        self._send("COMPLETE", job, datetime.now(UTC), inputs, outputs)

    def fail(self, job: JobRun, error: str, inputs: Iterable[Dataset] = ()) -> None:
        self._send("FAIL", job, datetime.now(UTC), inputs, (), error=error)

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
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

        event = RunEvent(
            eventType=RunState[kind],
            eventTime=when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            run=Run(runId=job.run_id, facets=self._run_facets(job, error)),
            job=Job(namespace=self.namespace, name=job.name, facets=self._job_facets()),
            producer=PRODUCER,
            inputs=[self._input(d) for d in inputs],
            outputs=[self._output(d) for d in outputs],
        )
        self._deliver(event)

    def _run_facets(self, job: JobRun, error: str | None) -> dict[str, Any]:
        from openlineage.client.generated import (
            error_message_run,
            parent_run,
            processing_engine_run,
        )

        facets: dict[str, Any] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=__version__, name="retail-lakehouse"
            )
        }
        if job.parent is not None:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=job.parent.run_id),
                job=parent_run.Job(namespace=self.namespace, name=job.parent.name),
            )
        if error is not None:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="PYTHON"
            )
        return facets

    def _job_facets(self) -> dict[str, Any]:
        from openlineage.client.generated import job_type_job

        return {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="RETAIL_LAKEHOUSE", jobType="JOB"
            )
        }

    def dataset_name(self, table: str) -> str:
        layer, _, name = table.partition(".")
        return str(self.lake.root / layer / name)

    def _input(self, dataset: Dataset) -> Any:
        from openlineage.client.event_v2 import InputDataset

        namespace, name, facets = self._identity(dataset)
        return InputDataset(
            namespace=namespace,
            name=name,
            facets=facets,
            inputFacets=dataset.extra_input_facets or None,
        )

    def _output(self, dataset: Dataset) -> Any:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.generated import output_statistics_output_dataset as stats

        namespace, name, facets = self._identity(dataset)
        output_facets: dict[str, Any] = {}
        if dataset.table is not None:
            size, files = self._table_size(dataset.table)
            output_facets["outputStatistics"] = stats.OutputStatisticsOutputDatasetFacet(
                rowCount=dataset.rows, size=size, fileCount=files
            )
            lineage = self._column_lineage(dataset.table)
            if lineage is not None:
                facets["columnLineage"] = lineage
        return OutputDataset(
            namespace=namespace, name=name, facets=facets, outputFacets=output_facets
        )

    def _identity(self, dataset: Dataset) -> tuple[str, str, dict[str, Any]]:
        from openlineage.client.generated import documentation_dataset, symlinks_dataset

        if dataset.external is not None:
            return dataset.external[0], dataset.external[1], {}
        if dataset.table is None:
            return FILE_NAMESPACE, str(Path(dataset.path or "").absolute()), {}
        facets: dict[str, Any] = {
            "symlinks": symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    symlinks_dataset.Identifier(
                        namespace=self.namespace, name=dataset.table, type="TABLE"
                    )
                ]
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
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description=text
            )
        return FILE_NAMESPACE, self.dataset_name(dataset.table), facets

    def _schema(self, table: str) -> Any | None:
        return self._table_facts(table)[0]

    def _table_size(self, table: str) -> tuple[int | None, int | None]:
        _, size, files = self._table_facts(table)
        return size, files

    def _table_facts(self, table: str) -> tuple[Any, int | None, int | None]:
        """The schema facet and size of a table, from one read of its Delta log."""
        if table not in self._described:
            from openlineage.client.generated import schema_dataset

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
            facet = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(
                        name=f.name,
                        type=str(f.type),
                        description=(target.column_description(f.name) if target else "")
                        or None,
                    )
                    for f in arrow
                ]
            )
            actions = pa.table(delta.get_add_actions(flatten=True))
            sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
            self._described[table] = (facet, int(sum(sizes)), len(sizes))
        return self._described[table]

    def _column_lineage(self, table: str) -> Any | None:
        from openlineage.client.generated import column_lineage_dataset as cl

        if self.columns is None or table not in self.columns.columns:
            return None

        def field_of(source: str, column: str, kind: str) -> Any:
            if source.startswith(REFERENCE_PREFIX):
                namespace, name = self.namespace, source
            else:
                namespace, name = FILE_NAMESPACE, self.dataset_name(source)
            return cl.InputField(
                namespace=namespace,
                name=name,
                field=column,
                transformations=[cl.Transformation(type=kind, subtype="")],
            )

        fields = {
            column: cl.Fields(
                inputFields=[field_of(s, c, "DIRECT") for s, c in sorted(sources)],
                transformationType="",
                transformationDescription="",
            )
            for column, sources in self.columns.columns[table].items()
            if sources
        }
        indirect = [field_of(s, c, "INDIRECT") for s, c in sorted(self.columns.indirect[table])]
        return cl.ColumnLineageDatasetFacet(fields=fields, dataset=indirect)

    # -- delivery ----------------------------------------------------------------------------
    def _deliver(self, event: Any) -> None:
        from openlineage.client.serde import Serde

        file_client, http_client = self._transports()
        file_client.emit(event)
        if http_client is None:
            return
        outbox = self.folder / "outbox.ndjson"
        waiting = outbox.read_text().splitlines() if outbox.is_file() else []
        waiting.append(Serde.to_json(event))
        left = self._post_all(http_client, waiting)
        if left:
            outbox.write_text("".join(line + "\n" for line in left))
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

    def _transports(self) -> tuple[Any, Any | None]:
        if self._clients is None:
            from openlineage.client import OpenLineageClient
            from openlineage.client.transport.file import FileConfig, FileTransport

            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"events-{datetime.now(UTC):%Y-%m-%d}.ndjson"
            file_client = OpenLineageClient(
                transport=FileTransport(FileConfig(log_file_path=str(path), append=True))
            )
            self._clients = (file_client, _HttpPoster(self.url) if self.url else None)
        return self._clients


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
