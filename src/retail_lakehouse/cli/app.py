"""The ``retail`` command: global options, command registration and exit codes.

Exit codes are part of the interface: 0 success, 1 the pipeline ran and failed (a quality gate,
a busy lake), 2 bad usage or refused input. Users never see a Python traceback unless they ask
for one with ``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape  # messages name retail.toml tables: [publish], [limits]
from typer.exceptions import TyperException

from retail_lakehouse import __version__
from retail_lakehouse.cli.context import (
    ONE_COMMAND,
    AppState,
    PipelineFailure,
    UsageProblem,
    err_console,
)
from retail_lakehouse.cli.help import polish_help
from retail_lakehouse.cli.lean_params import install as install_lean_params
from retail_lakehouse.config_file import ConfigError
from retail_lakehouse.interrupts import ctrl_c_pressed, remember_ctrl_c
from retail_lakehouse.lake.errors import DISK_FULL, LakeBusyError, LakeFormatError
from retail_lakehouse.observe import settings as observe_settings
from retail_lakehouse.pipeline.errors import RulesError


def _version(value: bool) -> None:
    if value:
        typer.echo(f"retail-lakehouse {__version__}")
        raise typer.Exit()


LAKE_FREE = ("init", "generate")
"""Commands that open no lake: run even where the lake folder could not be used."""


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
            help="Log events on stderr as json or console lines (always JSON in the lake's "
            "_logs/).",
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
            help="How long a writing command waits for another writer to finish, then exits 1 "
            "naming it (default: RETAIL_WRITER_WAIT, else 10).",
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


COMMANDS: tuple[tuple[str, str, str], ...] = (
    # (name, module in retail_lakehouse.cli, function or sub-app), in --help's order
    ("init", "project_cmd", "init"),
    ("ingest", "ingest_cmd", "ingest"),
    ("run", "run_cmd", "run"),
    ("status", "status_cmd", "status"),
    ("sql", "sql_cmd", "sql"),
    ("generate", "generate_cmd", "generate"),
    ("demo", "project_cmd", "demo"),
    # --- further commands register below this line (one line each) ---
    ("serve", "serve_cmd", "serve"),
    ("keys", "keys_cmd", "app"),
    ("quality", "quality_cmd", "app"),
    ("benchmark", "benchmark_cmd", "benchmark"),
    ("watch", "watch_cmd", "watch"),
    ("alerts", "alerts_cmd", "app"),
    ("lineage", "observe_cmd", "lineage"),
    ("catalog", "observe_cmd", "catalog"),
    ("metrics", "observe_cmd", "metrics"),
    ("publish", "publish_cmd", "publish"),
    ("history", "history_cmd", "history"),
    ("rollback", "rollback_cmd", "rollback"),
    ("retract", "retract_cmd", "retract"),
    ("backup", "backup_cmd", "backup"),
    ("restore", "backup_cmd", "restore"),
    ("optimize", "maintenance_cmd", "optimize"),
    ("vacuum", "maintenance_cmd", "vacuum"),
    ("doctor", "doctor_cmd", "doctor"),
    ("stream", "stream_cmd", "stream"),
)
"""Every command: a function (``app.command``) or, where the attribute is ``app``, a group of
subcommands (``app.add_typer``). Listed, not imported, so a process imports only the module of
the command it runs (decision 0011, eleventh round)."""

GLOBAL_VALUE_OPTIONS = ("--lake", "--log-format", "--metrics-file", "--wait")
"""The options of :func:`main_options` that take a value (the others are flags); a test
checks this against the built command."""


def build_app(only: str | None = None) -> typer.Typer:
    """The ``retail`` app with every command, or with the command ``only`` alone.

    Typer builds a Click command for every registered command (its signature, its options)
    on every invocation, and each command module imports what its top needs: about 0.06
    CPU-s for the whole tree, of which a process running one command uses one branch.
    ``retail --help``, an unknown command and the completions need the whole tree."""
    import importlib

    built = typer.Typer(
        name="retail",
        help="Turn raw retail sales exports into a trustworthy Delta Lake warehouse.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    built.callback()(main_options)
    for name, module_name, attribute in COMMANDS:
        if only is not None and name != only:
            continue
        module = importlib.import_module(f"retail_lakehouse.cli.{module_name}")
        target = getattr(module, attribute)
        if attribute == "app":
            built.add_typer(target, name=name)
        else:
            built.command(name)(target)
    return built


def command_named(arguments: list[str]) -> str | None:
    """The command ``arguments`` run (the first word after the global options), if it is one
    of :data:`COMMANDS` and nothing asks for the whole tree; else ``None``."""
    names = {name for name, _, _ in COMMANDS}
    waiting_value = False
    for word in arguments:
        if waiting_value:
            waiting_value = False
            continue
        if word in ("--help", "-h"):
            return None
        if word.startswith("-"):
            waiting_value = word in GLOBAL_VALUE_OPTIONS
            continue
        return word if word in names else None
    return None


_FULL_APP: list[typer.Typer] = []


def __getattr__(name: str) -> typer.Typer:
    """``app``: the whole command tree, built on first use (for callers that import it)."""
    if name == "app":
        if not _FULL_APP:
            _FULL_APP.append(build_app())
        return _FULL_APP[0]
    raise AttributeError(name)


if TYPE_CHECKING:
    app: typer.Typer


def _main() -> None:
    """Console-script entry point: run the app and map failures to exit codes."""
    debug = "--debug" in sys.argv
    install_lean_params()
    command = build_app(only=command_named(sys.argv[1:]))
    polish_help(command)
    try:
        returned = command(prog_name="retail", standalone_mode=False)
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
            err_console.print(f"[red]error:[/] {escape(str(usage))}")
        sys.exit(2)
    except (UsageProblem, ConfigError, LakeFormatError, RulesError) as problem:
        _fail(problem, 2, debug)
    except (PipelineFailure, LakeBusyError) as failure:
        _fail(failure, 1, debug)
    except Exception as error:
        if debug:
            traceback.print_exc()
        if ctrl_c_pressed():  # native code (DuckDB: "Query interrupted") raised its own error
            returned = INTERRUPTED
        elif isinstance(error, OSError) and error.errno in DISK_FULL:
            err_console.print(
                f"[red]error:[/] the disk is full: {escape(str(error))}\n"
                "Free some space and run the command again: what this one had not committed "
                "is undone by the next writing command."
            )
            sys.exit(1)
        else:
            err_console.print(
                f"[red]internal error:[/] {type(error).__name__}: {escape(str(error))}\n"
                "Run again with --debug for the traceback, and report it if it persists."
            )
            sys.exit(1)
    if returned == INTERRUPTED:  # typer turns Ctrl-C (KeyboardInterrupt) into this return value
        err_console.print(
            "interrupted: what the command had not committed is undone (now, or by the next writing"
            " command)"
        )
        sys.exit(INTERRUPTED)
    sys.exit(0)


INTERRUPTED = 130
"""The shell's code for a command ended by SIGINT. Outside standalone mode typer does not exit
on a KeyboardInterrupt: it returns 130 from the call, which an exit 0 would hide from scripts."""


def main() -> None:
    """Console-script entry point: run the command and exit through the interpreter's normal
    teardown, so atexit handlers, profilers, coverage and buffered logs all run.

    Earlier versions left through ``os._exit`` because a native library could abort while
    Python finalised ("terminate called without an active exception", exit -6). The cause was
    a thread still running native code at exit (the ingest's prefetch thread, since removed);
    every command now joins its threads and closes its DuckDB connections before it returns
    (decision 0011), which ``tests/integration/test_cli_exit.py`` checks."""
    ONE_COMMAND.append(True)
    remember_ctrl_c()
    try:
        _main()
    except KeyboardInterrupt:  # Ctrl-C before typer runs the command (while it loads modules)
        err_console.print("interrupted before the command started: nothing was changed")
        sys.exit(INTERRUPTED)


def _fail(error: Exception, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    err_console.print(f"[red]error:[/] {escape(str(error))}", highlight=False)
    sys.exit(code)
