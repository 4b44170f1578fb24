"""The ``retail`` command: global options, command registration and exit codes.

Exit codes are part of the interface: 0 success, 1 the pipeline ran and failed (a quality gate,
a busy lake), 2 bad usage or refused input. Users never see a Python traceback unless they ask
for one with ``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from typer.exceptions import TyperException

from retail_lakehouse import __version__
from retail_lakehouse.cli import (
    alerts_cmd,
    backup_cmd,
    benchmark_cmd,
    doctor_cmd,
    generate_cmd,
    history_cmd,
    ingest_cmd,
    keys_cmd,
    maintenance_cmd,
    observe_cmd,
    project_cmd,
    publish_cmd,
    quality_cmd,
    retract_cmd,
    rollback_cmd,
    run_cmd,
    serve_cmd,
    sql_cmd,
    status_cmd,
    stream_cmd,
    watch_cmd,
)
from retail_lakehouse.cli.context import (
    ONE_COMMAND,
    AppState,
    PipelineFailure,
    UsageProblem,
    err_console,
)
from retail_lakehouse.cli.help import polish_help
from retail_lakehouse.config_file import ConfigError
from retail_lakehouse.lake.errors import DISK_FULL, LakeBusyError, LakeFormatError
from retail_lakehouse.observe import settings as observe_settings

app = typer.Typer(
    name="retail",
    help="Turn raw retail sales exports into a trustworthy Delta Lake warehouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"retail-lakehouse {__version__}")
        raise typer.Exit()


LAKE_FREE = ("init", "generate")
"""Commands that open no lake: run even where the lake folder could not be used."""


@app.callback()
def main_options(
    ctx: typer.Context,
    lake: Annotated[
        str | None,  # text, not Path: a file:// URI must keep its slashes
        typer.Option(
            "--lake",
            envvar="RETAIL_LAKE",
            help="Lake root folder or file:// URI (default: lake in the nearest retail.toml, "
            "else ./lake).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            envvar="RETAIL_LOG_FORMAT",
            help="Log events on stderr as json or console lines (always JSON in <lake>/_logs/).",
        ),
    ] = None,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file",
            envvar="RETAIL_METRICS_FILE",
            help="Write pipeline metrics to this Prometheus textfile after writing commands.",
        ),
    ] = None,
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait",
            min=0,
            metavar="SECONDS",
            help="How long a writing command waits for another writer to finish (default 10).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """Turn raw retail sales exports into a trustworthy Delta Lake warehouse."""
    from retail_lakehouse.config import load_settings  # pydantic: not needed for --help

    if log_format not in (None, "json", "console"):
        raise UsageProblem(f"--log-format must be json or console, not {log_format!r}")
    settings = load_settings(
        lake_unused=ctx.invoked_subcommand in LAKE_FREE or "--help" in sys.argv[1:],
        lake=lake,
        log_format=log_format,
        metrics_file=metrics_file,
        writer_wait=wait,
    )
    ctx.obj = AppState(settings=settings, debug=debug)
    observe_settings.configure(
        log_format=settings.log_format,
        lineage_url=settings.lineage_url,
        namespace=settings.lineage_namespace,
        metrics_file=settings.metrics_file,
        rule_files=list(settings.rules),
    )


app.command("init")(project_cmd.init)
app.command("ingest")(ingest_cmd.ingest)
app.command("run")(run_cmd.run)
app.command("status")(status_cmd.status)
app.command("sql")(sql_cmd.sql)
app.command("generate")(generate_cmd.generate)
app.command("demo")(project_cmd.demo)
# --- further commands register below this line (one line each) ---
app.command("serve")(serve_cmd.serve)
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(quality_cmd.app, name="quality")
app.command("benchmark")(benchmark_cmd.benchmark)
app.command("watch")(watch_cmd.watch)
app.add_typer(alerts_cmd.app, name="alerts")
app.command("lineage")(observe_cmd.lineage)
app.command("catalog")(observe_cmd.catalog)
app.command("metrics")(observe_cmd.metrics)
app.command("publish")(publish_cmd.publish)
app.command("history")(history_cmd.history)
app.command("rollback")(rollback_cmd.rollback)
app.command("retract")(retract_cmd.retract)
app.command("backup")(backup_cmd.backup)
app.command("restore")(backup_cmd.restore)
app.command("optimize")(maintenance_cmd.optimize)
app.command("vacuum")(maintenance_cmd.vacuum)
app.command("doctor")(doctor_cmd.doctor)
app.command("stream")(stream_cmd.stream)


def _main() -> None:
    """Console-script entry point: run the app and map failures to exit codes."""
    debug = "--debug" in sys.argv
    polish_help(app)
    try:
        app(prog_name="retail", standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except TyperException as usage:  # bad options, unknown commands, missing arguments
        show = getattr(usage, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"[red]error:[/] {usage}")
        sys.exit(2)
    except (UsageProblem, ConfigError, LakeFormatError) as problem:
        _fail(problem, 2, debug)
    except (PipelineFailure, LakeBusyError) as failure:
        _fail(failure, 1, debug)
    except Exception as error:
        if debug:
            traceback.print_exc()
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            err_console.print(
                f"[red]error:[/] the disk is full: {error}\n"
                "Free some space and run the command again: what this one had not committed "
                "is undone by the next writing command."
            )
            sys.exit(1)
        err_console.print(
            f"[red]internal error:[/] {type(error).__name__}: {error}\n"
            "Run again with --debug for the traceback, and report it if it persists."
        )
        sys.exit(1)
    sys.exit(0)


def main() -> None:
    """Console-script entry point: run the command and exit through the interpreter's normal
    teardown, so atexit handlers, profilers, coverage and buffered logs all run.

    Earlier versions left through ``os._exit`` because a native library could abort while
    Python finalised ("terminate called without an active exception", exit -6). The cause was
    a thread still running native code at exit (the ingest's prefetch thread, since removed);
    every command now joins its threads and closes its DuckDB connections before it returns
    (decision 0011), which ``tests/integration/test_cli_exit.py`` checks."""
    ONE_COMMAND.append(True)
    _main()


def _fail(error: Exception, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    err_console.print(f"[red]error:[/] {error}", highlight=False)
    sys.exit(code)
