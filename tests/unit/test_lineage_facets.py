"""The hand-built OpenLineage events equal what the openlineage-python client writes.

``observe/lineage/facets.py`` builds events as JSON objects so a command does not import the
client (0.37 s). The client is the reference here: the same event and facets built with its
classes and serialised by its ``Serde`` must give the same JSON, member for member (the
``_producer`` of facets is this project's, so the client is told to use it too)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import (
    base,
    documentation_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    symlinks_dataset,
)
from openlineage.client.generated import column_lineage_dataset as cl
from openlineage.client.generated import data_quality_assertions_dataset as dqa
from openlineage.client.generated import data_quality_metrics_input_dataset as dqm
from openlineage.client.serde import Serde

from retail_lakehouse import __version__
from retail_lakehouse.lake import Lake
from retail_lakehouse.observe.lineage.events import Dataset, JobRun, LineageEmitter, events_in
from retail_lakehouse.observe.lineage.facets import PRODUCER, facet, to_json, without_nulls


@pytest.fixture(autouse=True)
def _our_producer() -> Iterator[None]:
    before = base.PRODUCER
    base.set_producer(PRODUCER)
    yield
    base.set_producer(before)


def _client(obj: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(Serde.to_json(obj))
    return found


def _ours(obj: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(json.dumps(without_nulls(obj), sort_keys=True))
    return found


def test_every_facet_equals_the_clients() -> None:
    pairs: list[tuple[Any, dict[str, Any]]] = [
        (
            processing_engine_run.ProcessingEngineRunFacet(version="1", name="retail-lakehouse"),
            facet("ProcessingEngineRunFacet", version="1", name="retail-lakehouse"),
        ),
        (
            parent_run.ParentRunFacet(
                run=parent_run.Run(runId="0176a8c2-fe01-7439-87e6-56a1a1b4029f"),
                job=parent_run.Job(namespace="n", name="retail.run"),
            ),
            facet(
                "ParentRunFacet",
                run={"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f", "facets": {}},
                job={"namespace": "n", "name": "retail.run", "facets": {}},
            ),
        ),
        (
            error_message_run.ErrorMessageRunFacet(message="boom", programmingLanguage="PYTHON"),
            facet("ErrorMessageRunFacet", message="boom", programmingLanguage="PYTHON"),
        ),
        (
            job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="RETAIL_LAKEHOUSE", jobType="JOB"
            ),
            facet(
                "JobTypeJobFacet",
                processingType="BATCH",
                integration="RETAIL_LAKEHOUSE",
                jobType="JOB",
            ),
        ),
        (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=None, size=10, fileCount=2
            ),
            facet("OutputStatisticsOutputDatasetFacet", rowCount=None, size=10, fileCount=2),
        ),
        (
            symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[symlinks_dataset.Identifier(namespace="n", name="t", type="TABLE")]
            ),
            facet(
                "SymlinksDatasetFacet",
                identifiers=[{"namespace": "n", "name": "t", "type": "TABLE"}],
            ),
        ),
        (
            documentation_dataset.DocumentationDatasetFacet(description="lines"),
            facet("DocumentationDatasetFacet", description="lines"),
        ),
        (
            schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="a", type="int64"),
                    schema_dataset.SchemaDatasetFacetFields(
                        name="b", type="string", description="why"
                    ),
                ]
            ),
            facet(
                "SchemaDatasetFacet",
                fields=[
                    {"name": "a", "type": "int64", "description": None, "fields": []},
                    {"name": "b", "type": "string", "description": "why", "fields": []},
                ],
            ),
        ),
        (
            cl.ColumnLineageDatasetFacet(
                fields={
                    "x": cl.Fields(
                        inputFields=[
                            cl.InputField(
                                namespace="file",
                                name="/l/silver/s",
                                field="y",
                                transformations=[cl.Transformation(type="DIRECT", subtype="")],
                            )
                        ],
                        transformationType="",
                        transformationDescription="",
                    )
                },
                dataset=[],
            ),
            facet(
                "ColumnLineageDatasetFacet",
                fields={
                    "x": {
                        "inputFields": [
                            {
                                "namespace": "file",
                                "name": "/l/silver/s",
                                "field": "y",
                                "transformations": [{"type": "DIRECT", "subtype": ""}],
                            }
                        ],
                        "transformationType": "",
                        "transformationDescription": "",
                    }
                },
                dataset=[],
            ),
        ),
        (
            dqm.DataQualityMetricsInputDatasetFacet(
                rowCount=5, columnMetrics={"c": dqm.ColumnMetrics(nullCount=1)}
            ),
            facet(
                "DataQualityMetricsInputDatasetFacet",
                rowCount=5,
                columnMetrics={"c": {"nullCount": 1, "quantiles": {}}},
            ),
        ),
        (
            dqa.DataQualityAssertionsDatasetFacet(
                assertions=[
                    dqa.Assertion(
                        assertion="validity",
                        name="r",
                        success=False,
                        severity="warn",
                        description=None,
                        actual="3",
                    )
                ]
            ),
            facet(
                "DataQualityAssertionsDatasetFacet",
                assertions=[
                    {
                        "assertion": "validity",
                        "name": "r",
                        "success": False,
                        "severity": "warn",
                        "description": None,
                        "actual": "3",
                        "params": {},
                    }
                ],
            ),
        ),
    ]
    for client, ours in pairs:
        assert _ours(ours) == _client(client), type(client).__name__


def test_an_emitted_event_equals_the_clients(tmp_path: Path) -> None:
    """A FAIL event with a parent, a source file input and an external output, as written to
    the lake's ``_lineage`` file, against the same event built and serialised by the client."""
    emitter = LineageEmitter(Lake(tmp_path), namespace="ns")
    started = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    parent = JobRun("retail.run", "0176a8c2-fe01-7439-87e6-56a1a1b4029f", started)
    job = JobRun("retail.run.silver", "0176a8c2-fe01-7439-87e6-56a1a1b40300", started, parent)
    source = tmp_path / "sales.csv"
    emitter.fail(job, "boom", inputs=[Dataset(path=str(source))])
    emitter.complete(job, inputs=[], outputs=[Dataset(external=("postgres://h", "public.t"))])
    written = events_in(tmp_path / "_lineage")
    assert len(written) == 2

    def reference(kind: RunState, inputs: list[Any], outputs: list[Any], when: str) -> Any:
        facets: dict[str, Any] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=__version__, name="retail-lakehouse"
            ),
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=parent.run_id),
                job=parent_run.Job(namespace="ns", name="retail.run"),
            ),
        }
        if kind is RunState.FAIL:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message="boom", programmingLanguage="PYTHON"
            )
        return RunEvent(
            eventType=kind,
            eventTime=when,
            run=Run(runId=job.run_id, facets=facets),
            job=Job(
                namespace="ns",
                name=job.name,
                facets={
                    "jobType": job_type_job.JobTypeJobFacet(
                        processingType="BATCH", integration="RETAIL_LAKEHOUSE", jobType="JOB"
                    )
                },
            ),
            producer=PRODUCER,
            inputs=inputs,
            outputs=outputs,
        )

    failed = reference(
        RunState.FAIL,
        [InputDataset(namespace="file", name=str(source.absolute()), facets={}, inputFacets=None)],
        [],
        written[0]["eventTime"],
    )
    done = reference(
        RunState.COMPLETE,
        [],
        [OutputDataset(namespace="postgres://h", name="public.t", facets={}, outputFacets={})],
        written[1]["eventTime"],
    )
    assert written[0] == _client(failed)
    assert written[1] == _client(done)
    # one JSON line per event, keys sorted as the client's file transport writes them
    lines = (next((tmp_path / "_lineage").glob("events-*.ndjson"))).read_text().splitlines()
    assert lines[0] == to_json(written[0])
