"""The lineage graph users query: source files -> bronze -> silver -> gold, for tables and
columns, upstream ("where does this come from?") or downstream ("what does a change affect?").

Table edges come from the column lineage (a table reads the tables its columns and filters
read) plus the source files listed in ``bronze.files``; column edges are the direct inputs of
each column. Bronze's raw columns come from the same-named (canonical) column of each file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from retail_lakehouse.lake import Lake
from retail_lakehouse.lake.contracts.bronze import RAW_COLUMNS
from retail_lakehouse.observe.lineage.columns import REFERENCE_PREFIX, ColumnLineage

BRONZE_OUTPUTS = ("bronze.sales_lines", "bronze.rejects", "bronze.files")
FILE_PREFIX = "file:"


@dataclass
class Graph:
    """Directed edges ``input -> output`` between node names."""

    inputs: dict[str, set[str]] = field(default_factory=dict)

    def add(self, source: str, target: str) -> None:
        self.inputs.setdefault(target, set()).add(source)
        self.inputs.setdefault(source, set())

    def outputs(self) -> dict[str, set[str]]:
        reverse: dict[str, set[str]] = {node: set() for node in self.inputs}
        for target, sources in self.inputs.items():
            for source in sources:
                reverse[source].add(target)
        return reverse

    def nodes(self) -> set[str]:
        return set(self.inputs)


def source_files(lake: Lake) -> list[str]:
    """The files bronze was built from (its manifest)."""
    if not lake.exists("bronze.files"):
        return []
    table = lake.read("bronze.files", ["_source_file"])
    return sorted(set(table.column("_source_file").to_pylist()))


def table_graph(lineage: ColumnLineage, files: Iterable[str]) -> Graph:
    graph = Graph()
    for path in files:
        for table in BRONZE_OUTPUTS:
            graph.add(FILE_PREFIX + path, table)
    for table in lineage.tables():
        for upstream in lineage.upstream_tables(table):
            if not upstream.startswith(REFERENCE_PREFIX):
                graph.add(upstream, table)
    return graph


def column_graph(lineage: ColumnLineage, files: Iterable[str]) -> Graph:
    graph = Graph()
    for path in files:
        for column in RAW_COLUMNS:
            graph.add(f"{FILE_PREFIX}{path}.{column}", f"bronze.sales_lines.{column}")
    for table, columns in lineage.columns.items():
        for column, sources in columns.items():
            graph.inputs.setdefault(f"{table}.{column}", set())
            for source, source_column in sources:
                if not source.startswith(REFERENCE_PREFIX):
                    graph.add(f"{source}.{source_column}", f"{table}.{column}")
    return graph


def walk(graph: Graph, start: str, *, downstream: bool) -> dict[str, Any]:
    """The tree reached from ``start`` (each node expanded once; repeats are marked)."""
    edges = graph.outputs() if downstream else graph.inputs
    expanded: set[str] = set()

    def visit(node: str) -> dict[str, Any]:
        if node in expanded:
            return {"name": node, "repeated": True, "children": []}
        expanded.add(node)
        children = [visit(child) for child in sorted(edges.get(node, ()))]
        return {"name": node, "children": children}

    return visit(start)


def reached(tree: dict[str, Any]) -> list[str]:
    """Every node name in a tree, the start excluded, sorted."""
    names: set[str] = set()

    def collect(node: dict[str, Any]) -> None:
        for child in node["children"]:
            names.add(child["name"])
            collect(child)

    collect(tree)
    return sorted(names)
