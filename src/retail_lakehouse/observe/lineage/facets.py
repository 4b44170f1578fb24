"""OpenLineage events and facets as plain JSON objects, serialised as openlineage-python does.

Why not the client's classes: importing ``openlineage.client`` costs about 0.37 s (its package
imports every transport, ``requests`` among them), paid by every ``retail ingest`` and ``retail
run`` that emits, while all this project used of it was a constructor per facet and a JSON
writer (decision 0011, third round). The events are the same objects: each facet carries
``_producer`` and the ``_schemaURL`` of the spec version the client 1.54 writes (all present in
``shared/spec``), ``None`` members are dropped and keys sorted as ``Serde.to_json`` does.
``tests/unit/observe/test_lineage_facets.py`` builds the same events with the client and
compares them; the observe tests validate written events against the spec's JSON schemas.
"""

from __future__ import annotations

import json
from typing import Any

from retail_lakehouse import __version__

PRODUCER = f"https://github.com/retail-lakehouse/retail-lakehouse/tree/{__version__}"
SPEC = "https://openlineage.io/spec"
RUN_EVENT_SCHEMA = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"

FACET_VERSIONS: dict[str, str] = {
    "ColumnLineageDatasetFacet": "1-2-0",
    "DataQualityAssertionsDatasetFacet": "1-1-0",
    "DataQualityMetricsInputDatasetFacet": "1-0-3",
    "DocumentationDatasetFacet": "1-1-0",
    "ErrorMessageRunFacet": "1-0-1",
    "JobTypeJobFacet": "2-0-4",
    "OutputStatisticsOutputDatasetFacet": "1-0-2",
    "ParentRunFacet": "1-2-0",
    "ProcessingEngineRunFacet": "1-1-1",
    "SchemaDatasetFacet": "1-2-0",
    "SymlinksDatasetFacet": "1-0-1",
}
"""The facet schemas written, at the versions openlineage-python 1.54 writes them."""


def facet(kind: str, /, **members: Any) -> dict[str, Any]:
    """One facet: its members plus ``_producer`` and ``_schemaURL`` (KeyError for a facet
    this module does not know the version of)."""
    url = f"{SPEC}/facets/{FACET_VERSIONS[kind]}/{kind}.json#/$defs/{kind}"
    return {"_producer": PRODUCER, "_schemaURL": url, **members}


def without_nulls(value: Any) -> Any:
    """``value`` with ``None`` members dropped at every depth, and ``None`` or empty-object
    items dropped from lists (what ``openlineage.client.serde.Serde`` does)."""
    if isinstance(value, dict):
        cleaned = {k: without_nulls(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None}
    if isinstance(value, list):
        items = [without_nulls(v) for v in value if v is not None]
        return [v for v in items if v is not None and v != {}]
    return value


def to_json(event: dict[str, Any]) -> str:
    """One event as one JSON line (keys sorted, nulls dropped)."""
    return json.dumps(without_nulls(event), sort_keys=True)
