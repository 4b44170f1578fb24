"""Catalog entries, built from the table contracts (descriptions, types), the Delta log (rows,
version, last update), ``meta.quality_scores`` and the lineage graph. Example values come from a
few hundred rows of each table, never a scan."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts import contracts
from retail_lakehouse.observe.lineage.columns import ColumnLineage
from retail_lakehouse.observe.lineage.graph import FILE_PREFIX, Graph, table_graph

SOURCE_FILES = "source files"
_SAMPLE_ROWS = 200
_EXAMPLES = 3


@dataclass
class CatalogColumn:
    name: str
    type: str
    description: str
    examples: list[str] = field(default_factory=list)


@dataclass
class CatalogEntry:
    table: str
    layer: str
    description: str
    exists: bool
    rows: int | None
    delta_version: int | None
    last_update: str | None
    freshness_seconds: float | None
    quality_score: float | None
    upstream: list[str]
    downstream: list[str]
    columns: list[CatalogColumn]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def build_catalog(lake: Lake, lineage: ColumnLineage, files: list[str]) -> list[CatalogEntry]:
    """One entry per table contract, in layer order."""
    graph = collapsed_graph(table_graph(lineage, files))
    downstream = graph.outputs()
    scores = _quality_scores(lake)
    now = time.time()
    entries = []
    for target in contracts():
        name = target.qualified
        delta = lake.delta(name)
        schema = pa.schema(delta.schema().to_arrow()) if delta is not None else target.schema
        rows = version = updated = None
        sample = None
        if delta is not None:
            actions = lake.file_stats(name)
            assert actions is not None
            rows = int(sum(v or 0 for v in actions.column("num_records").to_pylist()))
            version = delta.version()
            updated = delta.history(1)[0].get("timestamp")
            sample = _sample(lake, name)
        entries.append(
            CatalogEntry(
                table=name,
                layer=target.layer,
                description=target.description,
                exists=delta is not None,
                rows=rows,
                delta_version=version,
                last_update=_iso(updated),
                freshness_seconds=None if updated is None else round(now - updated / 1000, 1),
                quality_score=scores.get(name),
                upstream=sorted(graph.inputs.get(name, ())),
                downstream=sorted(downstream.get(name, ())),
                columns=[
                    CatalogColumn(
                        f.name,
                        str(f.type),
                        target.column_description(f.name) or "extra column kept from a source",
                        _examples(sample, f.name),
                    )
                    for f in schema
                ],
            )
        )
    return entries


def collapsed_graph(graph: Graph) -> Graph:
    """The table graph with every source file folded into one ``source files`` node."""
    folded = Graph()
    for target, sources in graph.inputs.items():
        if target.startswith(FILE_PREFIX):
            continue
        folded.inputs.setdefault(target, set())
        for source in sources:
            folded.add(SOURCE_FILES if source.startswith(FILE_PREFIX) else source, target)
    return folded


def _sample(lake: Lake, table: str) -> pa.Table | None:
    from retail_lakehouse.lake.query import LakeSQL

    try:
        with LakeSQL(lake, tables=[table]) as sql:
            return sql.arrow(f"SELECT * FROM {table} LIMIT {_SAMPLE_ROWS}")
    except Exception:
        return None


def _examples(sample: pa.Table | None, column: str) -> list[str]:
    if sample is None or column not in sample.column_names:
        return []
    values = sample.column(column).drop_null()
    if not pa.types.is_nested(values.type):  # lists cannot be hashed: show the first ones
        values = pc.unique(values)
    return [str(v) for v in values.slice(0, _EXAMPLES).to_pylist()]


def _quality_scores(lake: Lake) -> dict[str, float]:
    if not lake.exists("meta.quality_scores"):
        return {}
    from retail_lakehouse.lake.query import LakeSQL

    with LakeSQL(lake, tables=["meta.quality_scores"]) as sql:
        rows = sql.arrow(
            "SELECT table_name, arg_max(score, computed_at) AS score "
            "FROM meta.quality_scores WHERE scope = 'overall' GROUP BY 1"
        ).to_pylist()
    return {r["table_name"]: round(float(r["score"]), 2) for r in rows}


def _iso(millis: Any) -> str | None:
    if millis is None:
        return None
    return datetime.fromtimestamp(int(millis) / 1000, UTC).isoformat(timespec="seconds")
