"""A ``retail`` process builds the command it runs, and converts its options without pydantic
where the value needs no conversion (decision 0011, eleventh round).

Both are start-up savings that must not change what a user sees: the same help, the same
values handed to the command, the same usage errors. Checked against Typer itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
import typer.main
from typer._coercion import build_runtime_param
from typer.testing import CliRunner

from retail_lakehouse.cli.app import COMMANDS, GLOBAL_VALUE_OPTIONS, build_app, command_named
from retail_lakehouse.cli.help import polish_help
from retail_lakehouse.cli.lean_params import _UNHANDLED, install, known_answer


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["run"], "run"),
        (["--lake", "run", "ingest", "x.csv"], "ingest"),  # a lake folder named "run"
        (["--lake=/tmp/l", "status", "--json"], "status"),
        (["--debug", "--wait", "3", "keys", "list"], "keys"),
        (["--log-format", "json", "run"], "run"),
        (["--help"], None),
        (["run", "--help"], "run"),  # its help is the same from either app (below)
        ([], None),
        (["rn"], None),  # unknown: the whole tree, for Click's "did you mean"
        (["--version"], None),
    ],
)
def test_command_named(arguments: list[str], expected: str | None) -> None:
    assert command_named(arguments) == expected


def test_the_global_options_that_take_a_value_are_the_callbacks() -> None:
    group = typer.main.get_command(build_app(only="run"))
    taking_value = {
        name
        for param in group.params
        if isinstance(param, typer.core.TyperOption) and not param.is_flag
        for name in param.opts
    }
    assert taking_value == set(GLOBAL_VALUE_OPTIONS)


def test_one_command_app_has_the_command_alone() -> None:
    group = typer.main.get_command(build_app(only="ingest"))
    assert isinstance(group, typer.core.TyperGroup)
    assert list(group.commands) == ["ingest"]
    whole = typer.main.get_command(build_app())
    assert isinstance(whole, typer.core.TyperGroup)
    assert set(whole.commands) == {name for name, _, _ in COMMANDS}


@pytest.mark.parametrize("name", ["run", "ingest", "status", "keys", "history"])
def test_a_commands_help_is_the_same_from_the_one_command_app(name: str) -> None:
    runner = CliRunner()
    texts = []
    for app in (build_app(only=name), build_app()):
        polish_help(app)
        done = runner.invoke(app, [name, "--help"], env={"COLUMNS": "120"})
        assert done.exit_code == 0, done.output
        texts.append(done.output)
    assert texts[0] == texts[1]
    assert "Usage:" in texts[0]


def test_retail_help_lists_every_command() -> None:
    retail = Path(sys.executable).with_name("retail")
    done = subprocess.run(
        [str(retail), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    )
    for name, _, _ in COMMANDS:
        assert f" {name} " in done.stdout, name


def test_a_writing_command_does_not_load_typers_pydantic_adapters(tmp_path: Path) -> None:
    """The guard: ``retail --lake L status`` (options not given, a str and an int default)
    converts its options without ``typer._adapters``; without :func:`install` it loads it."""
    probe = (
        "import json, sys\n"
        "sys.argv = ['retail', '--lake', {lake!r}, 'status']\n"
        "{before}\n"
        "from retail_lakehouse.cli import app\n"
        "try:\n    app.main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps('typer._adapters' in sys.modules))\n"
    )
    seen = []
    for before in ("", "import retail_lakehouse.cli.lean_params as l; l.install = lambda: False"):
        code = probe.format(lake=str(tmp_path / "none"), before=before)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        seen.append(json.loads(done.stdout.splitlines()[-1]))
    assert seen == [False, True]


class Colour(str, Enum):
    RED = "red"
    GREEN = "Green"


def _probe_app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def probe(
        text: Annotated[str | None, typer.Option()] = None,
        word: Annotated[str, typer.Option()] = "x",
        count: Annotated[int, typer.Option(min=0)] = 10,
        share: Annotated[float | None, typer.Option(min=0)] = None,
        flag: Annotated[bool, typer.Option()] = False,
        where: Annotated[Path | None, typer.Option()] = None,
        paths: Annotated[list[Path] | None, typer.Option()] = None,
        colour: Annotated[Colour | None, typer.Option()] = None,
        sensitive: Annotated[Colour | None, typer.Option(case_sensitive=True)] = None,
        existing: Annotated[Path | None, typer.Option(exists=True)] = None,
    ) -> None:
        del text, word, count, share, flag, where, paths, colour, sensitive, existing

    return app


VALUES: tuple[Any, ...] = (
    None,
    "x",
    "",
    "5",
    "-1",
    "1.5",
    "abc",
    "red",
    "RED",
    "green",
    "Green",
    "a\x00b",
    "/",
    "/nonexistent/file.csv",
    10,
    -3,
    0.5,
    True,
    False,
    Colour.RED,
    ("a.csv", "/"),
    ("a.csv", "a\x00b"),
    Path("p"),
)


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as error:  # comparing Typer's failures as they are
        return ("error", f"{type(error).__name__}: {error}")
    return ("value", (type(result), result))


def test_lean_conversion_gives_typers_values_and_errors() -> None:
    """Every value through Typer's own runtime parameter and through the lean one: the same
    value of the same type, or the same error; and the lean path answers the common cases
    itself (so this test would see it answering wrongly)."""
    assert install()
    command = typer.main.get_command(_probe_app())
    ctx = command.make_context("probe", [], resilient_parsing=True)
    answered = 0
    compared = 0
    for param in command.params:
        descriptor = param.type_descriptor  # type: ignore[attr-defined]
        for value in VALUES:
            typers = _outcome(build_runtime_param(descriptor), value, param, ctx)
            lean = _outcome(typer.core.build_runtime_param(descriptor), value, param, ctx)  # type: ignore[attr-defined]
            assert lean == typers, (param.name, value)
            compared += 1
            known = known_answer(descriptor.annotation, descriptor.parameter_info, value)
            if known is not _UNHANDLED:
                answered += 1
                assert typers == ("value", (type(known), known)), (param.name, value)
    assert compared == len(command.params) * len(VALUES)
    assert answered >= 20
