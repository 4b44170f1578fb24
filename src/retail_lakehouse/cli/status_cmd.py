"""``retail status``: every table with rows and version, the accounting, the last runs."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from retail_lakehouse.cli.context import console, state_from


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    runs: Annotated[int, typer.Option(help="How many recent runs to show.")] = 10,
) -> None:
    """Show the lake's tables (rows, Delta version), line accounting and recent runs."""
    from retail_lakehouse.pipeline.status import lake_status

    root = state_from(ctx).lake_root
    report: dict[str, Any] = lake_status(root, last_runs=runs)
    if as_json:
        sys.stdout.write(json.dumps(report, default=str, indent=2) + "\n")
        return
    tables = Table("table", "rows", "version", title=f"lake {root}")
    for name, info in report["tables"].items():
        tables.add_row(name, f"{info['rows']:,}", str(info["version"]))
    console.print(tables)
    accounting = report.get("accounting")
    if accounting:
        balanced = "balanced" if accounting.get("balanced") else "[red]NOT balanced[/]"
        console.print(
            f"accounting: bronze {accounting['bronze']:,} = silver {accounting['silver']:,}"
            f" + quarantine {accounting['quarantine']:,}"
            f" + duplicates {accounting['duplicates']:,}"
            f" + pending {accounting.get('pending', 0):,} ({balanced})"
        )
    recent = Table("run", "command", "status", "finished", "seconds", "error", title="recent runs")
    for run in report["runs"]:
        recent.add_row(
            run["run_id"],
            run["command"],
            run["status"],
            str(run["finished_at"])[:19],
            f"{run['seconds']:.2f}" if run["seconds"] is not None else "",
            (run["error"] or "")[:60],
        )
    console.print(recent)
