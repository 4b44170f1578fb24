"""``retail status``: every table with rows and version, the accounting, the last runs."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from retail_lakehouse.cli.context import console, existing_lake_root, state_from


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    runs: Annotated[
        int, typer.Option(min=0, max=1_000_000, help="How many recent runs to show.")
    ] = 10,
) -> None:
    """Show the lake's tables (rows, Delta version), line accounting and recent runs."""
    from retail_lakehouse.pipeline.status import lake_status

    root = existing_lake_root(ctx)
    zone = state_from(ctx).settings.time_zone
    report: dict[str, Any] = lake_status(root, last_runs=runs, time_zone=zone)
    if as_json:
        sys.stdout.write(json.dumps(report, default=str, indent=2) + "\n")
        return
    tables = Table("table", "rows", "version", title=f"lake {root}")
    for name, info in report["tables"].items():
        tables.add_row(name, f"{info['rows']:,}", str(info["version"]))
    console.print(tables)
    console.print(_format_line(report["format"]), highlight=False)
    console.print(_zone_line(report["time_zone"]), highlight=False)
    accounting = report.get("accounting")
    if accounting:
        console.print(_accounting_lines(accounting, report.get("interrupted") or []))
    dates = report.get("date_orders") or {}
    for line in dates.get("likely_swaps", []):
        console.print(f"[red]date check:[/] {escape(line)}", highlight=False)
    assumed = dates.get("assumed", [])
    if dates.get("assumed_count", 0) > len(assumed):
        console.print(
            f"[yellow]date order assumed[/] for {dates['assumed_count']:,} files or sheets; "
            f"the latest {len(assumed):,}:",
            highlight=False,
        )
    for line in assumed:
        console.print(f"[yellow]date order assumed:[/] {escape(line)}", highlight=False)
    recent = Table("run", "command", "status", "finished", "seconds", title="recent runs")
    recent.add_column("error", overflow="fold")  # whole, wrapped: a cut "916 of 4" misleads
    for run in report["runs"]:
        recent.add_row(
            run["run_id"],
            run["command"],
            run["status"],
            str(run["finished_at"])[:19],
            f"{run['seconds']:.2f}" if run["seconds"] is not None else "",
            run["error"] or "",
        )
    console.print(recent)
    watcher = report.get("watcher")
    if watcher:
        console.print(_watcher_line(watcher), highlight=False)


def _format_line(lake_format: dict[str, Any]) -> str:
    """The lake's recorded format, and whether this release writes to it."""
    recorded, ours = lake_format["recorded"], lake_format["this_release"]
    if recorded is None:
        return f"lake format: [red]unreadable[/] ({escape(lake_format['problem'])})"
    line = f"lake format: {recorded} (this release writes {ours})"
    if recorded > ours:
        line += "; [red]written by a newer release[/]: this one does not write to it"
    return line


def _zone_line(zone: dict[str, Any]) -> str:
    """The zone silver and gold were built in; when ``time_zone`` now says another, what the
    next run with new lines will do (refuse, exit 2) and the two ways out, said beforehand."""
    built, configured = zone["lake"], zone["configured"]
    if built is None:
        return f"time zone: {escape(configured)} (silver and gold not built yet)"
    if not zone["differs"]:
        return f"time zone: {escape(built)}"
    return (
        f"time zone: {escape(built)} (silver and gold were built in it); [red]time_zone is now "
        f"{escape(configured)}[/]: a `retail run` with new lines is refused until `retail run "
        f"--full-refresh` rebuilds them in {escape(configured)}, or time_zone is set back to "
        f"{escape(built)}"
    )


def _watcher_line(watcher: dict[str, Any]) -> str:
    """One line on ``retail watch``: alive since when, last file, next scheduled run."""
    if watcher["alive"]:
        line = f"watcher: [green]alive[/] (pid {watcher['pid']}, since {watcher['started_at']})"
    else:
        last = watcher.get("stopped_at") or watcher.get("updated_at")
        line = f"watcher: [red]not running[/] (last seen {last})"
    if watcher.get("last_file"):
        line += f"; last file {watcher['last_file']} at {watcher['last_file_at']}"
    if watcher.get("last_run_id"):
        line += f"; last run {watcher['last_run_id']} {watcher.get('last_run_status')}"
    if watcher["alive"] and watcher.get("next_scheduled_run"):
        line += f"; next scheduled run {watcher['next_scheduled_run']}"
    return line


def _accounting_lines(accounting: dict[str, Any], interrupted: list[dict[str, Any]]) -> str:
    """The identity through every layer, and whether it holds (or why it cannot be judged)."""
    writer = accounting.get("in_progress")
    if writer:
        verdict = (
            f"[yellow]run in progress[/]: {writer.get('command')} (pid {writer.get('pid')}, "
            f"since {writer.get('since')}); figures may straddle its commits"
        )
    elif interrupted:
        names = ", ".join(f"{i['command']} {i['run_id']}" for i in interrupted)
        verdict = (
            f"[yellow]interrupted command(s) not yet recovered[/] ({names}): the next writing "
            "command completes or undoes them"
        )
    elif accounting.get("rebuild_pending"):
        verdict = (
            "[yellow]rebuild pending[/]: an interrupted full refresh is finished by the next "
            "`retail run`"
        )
    elif accounting.get("balanced"):
        verdict = "balanced"
    else:
        verdict = "[red]NOT balanced[/]: " + "; ".join(accounting.get("broken", []))
    return (
        f"accounting: bronze {accounting['bronze']:,} = silver {accounting['silver']:,}"
        f" + quarantine {accounting['quarantine']:,}"
        f" + duplicates {accounting['duplicates']:,}"
        f" + pending {accounting.get('pending', 0):,}\n"
        f"            fact {accounting['fact']:,} rows = silver lines in gold "
        f"{accounting['silver_in_gold']:,}; marts total the fact (gross "
        f"{accounting['fact_gross']:,}, returns {accounting['fact_returns']:,}, units "
        f"{accounting['fact_units']:,})\n"
        f"            {verdict}"
    )
