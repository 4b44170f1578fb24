"""``retail alerts``: the alerts in ``meta.alerts``, and a test message per channel."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import (
    PipelineFailure,
    UsageProblem,
    console,
    existing_lake,
    state_from,
)

app = typer.Typer(help="Alerts raised by runs and by `retail watch`, and their channels.")


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only alerts not yet cleared.")] = False,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List alerts, newest first, with their delivery status."""
    from retail_lakehouse.observe.alerts import AlertBook

    lake = existing_lake(ctx)  # a mistyped --lake is refused, not listed as no alerts
    state = state_from(ctx)
    alerts = [a for a in AlertBook(lake, state.settings).all() if a.open or not open_only]
    alerts = alerts[:limit]
    if as_json:
        rows = [alert.row() | {"channels": alert.channels} for alert in alerts]
        sys.stdout.write(json.dumps(rows, default=str, indent=2) + "\n")
        return
    table = Table("raised", "kind", "severity", "state", "delivery", "message", title="alerts")
    for alert in alerts:
        if alert.delivered is None:
            delivery = "no channel"
        elif alert.delivered:
            delivery = f"delivered ({', '.join(alert.channels)})"
        else:
            delivery = f"[red]failed[/] ({alert.attempts} attempt(s)): {alert.delivery_error}"
        table.add_row(
            alert.raised_at.isoformat(timespec="seconds"),
            alert.kind,
            alert.severity,
            "open" if alert.open else "cleared",
            delivery,
            alert.message.splitlines()[0][:100],
        )
    console.print(table)


@app.command("test")
def test_channel(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="A channel name from [alerts.channels].")],
) -> None:
    """Send a test alert through one channel (not stored); exit 1 when it is not delivered."""
    from retail_lakehouse.observe.alerts import AlertBook

    state = state_from(ctx)
    book = AlertBook(state.lake, state.settings)
    if channel not in book.channels:
        known = ", ".join(sorted(book.channels)) or "none configured in retail.toml"
        raise UsageProblem(f"unknown alert channel {channel!r} (channels: {known})")
    error = book.test(channel)
    if error:
        raise PipelineFailure(f"test alert not delivered to {channel}: {error}")
    console.print(f"test alert delivered to {channel}", markup=False)
