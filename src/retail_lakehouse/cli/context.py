"""What every command needs from the global options: the settings, the lake, the console."""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:  # both pull in pydantic, pyarrow and delta-rs: imported when first used
    from collections.abc import Sequence

    from retail_lakehouse.config import Settings
    from retail_lakehouse.lake import Lake
    from retail_lakehouse.quality.rules import RuleSet


@dataclass
class AppState:
    """Global options, resolved once in the app callback."""

    settings: Settings
    debug: bool = False

    @property
    def lake(self) -> Lake:
        from retail_lakehouse.lake.store import Lake

        return Lake(self.settings.lake, writer_wait=self.settings.writer_wait)

    @property
    def lake_root(self) -> Path:
        """The lake's folder, as ``Lake`` resolves it, without importing the lake's libraries."""
        return Path(self.settings.lake).expanduser().absolute()

    @property
    def landing(self) -> Path:
        return self.settings.landing


class _Console(Console):
    """Rich's console, printing a message as written when its text does not read as markup.

    Messages are f-strings with Rich markup around names the user chose: a file under a folder
    ``q[`` is ``q[/].csv``, whose ``[/]`` Rich takes for a closing tag, and every message naming
    it (a refusal, ``retail retract``'s report after its work was done, ``generate``'s) was a
    MarkupError traceback, exit 1. Rich renders everything before it writes, so nothing of the
    failed attempt was printed."""

    def print(self, *objects: Any, **options: Any) -> None:
        from rich.errors import MarkupError

        try:
            super().print(*objects, **options)
        except MarkupError:
            super().print(*objects, **{**options, "markup": False})


def _console(stderr: bool = False) -> Console:
    probe = _Console(stderr=stderr)
    # In pipes and CI logs: tables 160 columns wide instead of Rich's 80, and a printed line is
    # never broken (a summary with a long path stays one line for grep and scripts).
    return probe if probe.is_terminal else _Console(stderr=stderr, width=160, soft_wrap=True)


console = _console()
"""Progress and tables go to stdout; Rich drops colours and animation when not on a terminal."""
err_console = _console(stderr=True)


def state_from(ctx: typer.Context) -> AppState:
    state = ctx.find_root().obj
    if not isinstance(state, AppState):
        raise RuntimeError("the retail app callback did not run")
    return state


def lake_from(ctx: typer.Context) -> Lake:
    return state_from(ctx).lake


def existing_lake(ctx: typer.Context) -> Lake:
    """The lake of a command that only reads: a folder that does not exist is refused (a
    mistyped ``--lake`` would otherwise show an empty lake as if all were well). An existing
    empty folder (what ``retail init`` creates) is an empty lake."""
    existing_lake_root(ctx)
    return lake_from(ctx)


def existing_lake_root(ctx: typer.Context) -> Path:
    """:func:`existing_lake`'s check, for a command that reads the lake's folder without
    opening it as a ``Lake`` (``retail status``: no pyarrow)."""
    root = state_from(ctx).lake_root
    if not root.is_dir():
        raise UsageProblem(
            f"no lake at {root} (check --lake, RETAIL_LAKE or retail.toml; "
            "`retail ingest FILES` starts one, `retail init` makes an empty one)"
        )
    return root


def lake_with_bronze(ctx: typer.Context) -> Lake:
    """The lake of ``retail run``: nothing can run before files are ingested, and a mistyped
    ``--lake`` must not create a folder and report success."""
    lake = lake_from(ctx)
    if not lake.exists("bronze.sales_lines"):
        where = "no lake" if not lake.root.is_dir() else "no bronze table"
        raise UsageProblem(
            f"nothing to run: {where} at {lake.root}; ingest files first "
            "(`retail ingest FILES`), or check --lake, RETAIL_LAKE or retail.toml"
        )
    return lake


def checked_rules(state: AppState, extra: Sequence[Path] = ()) -> RuleSet:
    """The rules a command will apply (the defaults, ``retail.toml``'s ``rules``, then
    ``--rules``), loaded and compiled before any lock is taken or data read: a missing or
    invalid file is a usage error (exit 2) naming the file, the rule and the problem. The same
    check for ``run``, ``quality check`` and ``watch`` (which would otherwise fail every run
    until a person fixes the file)."""
    from retail_lakehouse.pipeline.errors import RulesError
    from retail_lakehouse.quality.rules import load_rules

    for path in extra:
        if not path.is_file():
            raise UsageProblem(f"rules file not found: {path}")
    try:
        return load_rules([*state.settings.rules, *extra])
    except RulesError as bad:
        raise UsageProblem(str(bad)) from None


def writable_file(path: Path, what: str) -> Path:
    """Refuse, before any work, an output file that cannot be written: a missing folder, a
    folder given as the file, a read-only place. Creates nothing (a probe file is removed)."""
    if path.is_dir():
        raise UsageProblem(f"{what} {path} is a folder; give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise UsageProblem(f"{what} {path}: the folder {folder} does not exist")
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as error:
        raise UsageProblem(f"{what} {path} cannot be written: {error.strerror or error}") from None
    if not existed:
        path.unlink(missing_ok=True)
    return path


class EngineChoice(str, Enum):
    """The ``--engine`` values, checked by the parser before any work starts."""

    duckdb = "duckdb"
    spark = "spark"


class UsageProblem(Exception):
    """Bad usage or refused input: printed without a traceback, exit code 2."""


class PipelineFailure(Exception):
    """The pipeline ran and failed (a quality gate, for example): exit code 1."""


ONE_COMMAND: list[bool] = []
"""Set by the console script's ``main``: this interpreter runs one command and exits, so a
command may shape what the process loads (:func:`pyarrow_without_numpy`). Empty when a test,
the API or the watcher calls a command's function inside a longer-lived process."""


def pyarrow_without_numpy(*, compute: bool = True) -> None:
    """Load pyarrow without its NumPy bridge: 0.09 CPU-s less for each command that calls it.

    pyarrow imports NumPy at start-up when it is installed (``pyarrow.lib`` and
    ``pyarrow._compute`` try to), only to convert NumPy arrays and pandas objects, which
    ``retail ingest`` of files and ``retail run`` on DuckDB never hand it (their data moves as
    Arrow, through DuckDB and delta-rs). NumPy is hidden while those two modules load, so
    pyarrow starts as it does where NumPy is not installed (a configuration it supports: each
    conversion to or from NumPy then raises ``ImportError``), and is importable again right
    after, for the code that uses it on its own (``np.frombuffer`` of Arrow buffers). Nothing
    changes if pyarrow or NumPy is already loaded, or outside a one-command process
    (:data:`ONE_COMMAND`). Decision 0011, ninth round.

    ``compute=False`` loads ``pyarrow.lib`` only: ``pyarrow.compute`` builds a wrapper and its
    docstring for each of its ~290 functions when imported (0.07-0.09 CPU-s), and the ingest's
    own process calls none of them (its reader worker does, in its own interpreter). Were it
    imported later all the same, it would load NumPy then: the same cost, nothing wrong
    (decision 0021, twelfth round)."""
    if not ONE_COMMAND or "pyarrow" in sys.modules or "numpy" in sys.modules:
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]
    try:
        if compute:
            import pyarrow.compute
        else:
            import pyarrow  # noqa: F401
    finally:
        if sys.modules.get("numpy", 0) is None:
            del sys.modules["numpy"]


def freeze_loaded_objects() -> None:
    """Move everything allocated so far (mostly the engines' modules) out of the collector's
    reach, so its full collections during a run scan only the run's own objects.

    Called by the commands that move data, after their imports: the libraries hold a few
    hundred thousand long-lived objects, and rescanning them cost ~0.1 s per run on 541,909
    lines. Objects created later are collected as usual."""
    gc.freeze()
