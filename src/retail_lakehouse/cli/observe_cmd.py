"""``retail lineage``, ``retail catalog`` and ``retail metrics``: what the lake holds, where each
number comes from, and how the pipeline is doing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.tree import Tree

from retail_lakehouse.cli.context import UsageProblem, console, existing_lake, state_from


def _lineage_inputs(ctx: typer.Context) -> tuple[Any, Any, list[str]]:
    from retail_lakehouse.observe.lineage.columns import column_lineage
    from retail_lakehouse.observe.lineage.graph import source_files

    state = state_from(ctx)
    lake = existing_lake(ctx)
    return lake, column_lineage(lake, list(state.settings.rules)), source_files(lake)


def lineage(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="layer.table or layer.table.column")],
    downstream: Annotated[
        bool, typer.Option("--downstream", help="What is computed from it (default: upstream).")
    ] = False,
    upstream: Annotated[bool, typer.Option("--upstream", help="Where it comes from.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for tools.")] = False,
) -> None:
    """The lineage graph of a table or column, from source files to marts."""
    from retail_lakehouse.lake.contracts import contract
    from retail_lakehouse.observe.lineage.graph import column_graph, reached, table_graph, walk

    if downstream and upstream:
        raise UsageProblem("choose --upstream or --downstream, not both")
    parts = target.split(".")
    if len(parts) not in (2, 3):
        raise UsageProblem(f"expected layer.table or layer.table.column, got {target!r}")
    table = ".".join(parts[:2])
    try:
        target_contract = contract(table)
    except KeyError:
        raise UsageProblem(f"unknown table {table!r}") from None
    if len(parts) == 3 and parts[2] not in target_contract.schema.names:
        raise UsageProblem(f"{table} has no column {parts[2]!r}")
    _, columns, files = _lineage_inputs(ctx)
    graph = column_graph(columns, files) if len(parts) == 3 else table_graph(columns, files)
    tree = walk(graph, target, downstream=downstream)
    direction = "downstream" if downstream else "upstream"
    if as_json:
        edges = graph.outputs() if downstream else graph.inputs
        nodes = [target, *reached(tree)]
        payload = {
            "target": target,
            "direction": direction,
            "nodes": nodes,
            "edges": [
                {"from": s, "to": t} if not downstream else {"from": t, "to": s}
                for t in nodes
                for s in sorted(edges.get(t, ()))
            ],
            "tree": tree,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    view = Tree(f"[bold]{target}[/] ({direction})")
    _grow(view, tree)
    console.print(view)


def _grow(branch: Tree, node: dict[str, Any]) -> None:
    for child in node["children"]:
        label = child["name"] + (" [dim](see above)[/]" if child.get("repeated") else "")
        _grow(branch.add(label), child)


def catalog(
    ctx: typer.Context,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a static HTML catalog into this folder.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON.")] = False,
) -> None:
    """The data dictionary: every table with its columns, size, freshness, quality, lineage."""
    from rich.table import Table

    from retail_lakehouse.observe.catalog.build import build_catalog

    lake, columns, files = _lineage_inputs(ctx)
    entries = build_catalog(lake, columns, files)
    if html is not None:
        from retail_lakehouse.observe.catalog.html import write_site

        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            index = write_site(entries, html, stamp)
        except OSError as error:
            raise UsageProblem(f"cannot write the catalog into {html}: {error}") from None
        if not as_json:
            console.print(f"catalog written to {index}", markup=False)
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in entries], indent=2, default=str))
        return
    if html is None:
        table = Table("table", "rows", "version", "last update", "quality", "description")
        for e in entries:
            table.add_row(
                e.table,
                f"{e.rows:,}" if e.rows is not None else "—",
                str(e.delta_version) if e.delta_version is not None else "—",
                e.last_update or "—",
                f"{e.quality_score:.1f}" if e.quality_score is not None else "—",
                e.description,
            )
        console.print(table)


def metrics(
    ctx: typer.Context,
    textfile: Annotated[
        Path | None,
        typer.Option("--textfile", help="Write a node-exporter textfile instead of printing."),
    ] = None,
) -> None:
    """Pipeline metrics in the Prometheus text format."""
    from retail_lakehouse.observe.metrics import render, write_textfile

    lake = existing_lake(ctx)
    if textfile is not None:
        try:
            write_textfile(lake, textfile)
        except OSError as error:
            raise UsageProblem(f"cannot write {textfile}: {error}") from None
        return
    typer.echo(render(lake).decode(), nl=False)
