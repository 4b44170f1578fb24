"""``retail init`` (scaffold a project) and ``retail demo`` (the whole job on sample data)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import UsageProblem, console, state_from


def init(
    directory: Annotated[Path, typer.Argument(help="Project folder to create.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing retail.toml.")] = False,
) -> None:
    """Create retail.toml with commented defaults, landing/ and lake/."""
    from retail_lakehouse.lake.location import UnsupportedLakeRoot, delta_openable

    try:  # its lake/ must be a folder Delta Lake can open: refused before anything is made
        delta_openable(directory / "lake")
    except UnsupportedLakeRoot as unsupported:
        raise UsageProblem(str(unsupported)) from None
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "retail.toml"
    if config.exists() and not force:
        raise UsageProblem(f"{config} exists; use --force to overwrite it")
    from retail_lakehouse.config import DEFAULT_TOML

    config.write_text(DEFAULT_TOML, encoding="utf-8")
    for sub in ("landing", "lake"):
        (directory / sub).mkdir(exist_ok=True)
    console.print(f"initialised {directory.resolve()}: retail.toml, landing/, lake/", markup=False)


def demo(
    ctx: typer.Context,
    rows: Annotated[int, typer.Option(help="Sample lines to generate.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed of the sample data.")] = 42,
) -> None:
    """Generate sample data, ingest it with the bundled real samples, run every layer, summarise."""
    from retail_lakehouse.pipeline.demo import DemoRefused, run_demo

    state = state_from(ctx)
    started = time.perf_counter()
    try:
        summary = run_demo(state.lake, state.landing, rows=rows, seed=seed)
    except DemoRefused as refused:
        raise UsageProblem(str(refused)) from None
    tables = Table("table", "rows", "version", title="lake after the demo")
    for name, info in summary.status["tables"].items():
        tables.add_row(name, f"{info['rows']:,}", str(info["version"]))
    console.print(tables)
    for section in summary.sections:
        console.print(section)
    console.print(
        f"demo finished in {time.perf_counter() - started:.1f}s: lake at {state.lake.root}; "
        f'try: retail --lake {state.lake.root} sql "SELECT * FROM gold.mart_daily_sales LIMIT 5"'
    )
