"""The ``retail`` command starts light: heavy libraries load only in the commands that use them.

A deterministic guard instead of a timing test: a fresh interpreter imports the CLI (what
``retail --help`` and ``retail --version`` pay before any work) and lists the modules it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "ibis",
    "pyspark",
    "fastapi",
    "dagster",
    "polars",
    "pandas",
    "matplotlib",
    "plotly",
    "psycopg",
    "openlineage",
    "nats",
    "uvicorn",
    "httpx",
)
"""Never loaded by importing the CLI (the issue's list, the frame and plotting libraries, and
the clients of the publish, lineage, watch and serve commands)."""

ENGINE = ("duckdb", "pyarrow", "deltalake", "pydantic", "pydantic_settings", "numpy")
"""Loaded by the commands that open a table or read settings, never by the import alone."""


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}


@pytest.fixture(scope="module")
def cli_modules() -> set[str]:
    # build_app() imports every command module, as `retail --help` does
    return _loaded_after("import retail_lakehouse.cli.app as a\na.build_app()")


@pytest.mark.parametrize("library", HEAVY + ENGINE)
def test_importing_the_cli_leaves_the_library_alone(cli_modules: set[str], library: str) -> None:
    assert library not in cli_modules


def test_the_probe_sees_a_library_that_is_imported() -> None:
    """The guard can fail: the same probe reports a heavy library when something imports it."""
    assert "duckdb" in _loaded_after("import retail_lakehouse.cli.app\nimport duckdb")


NOT_IN_A_RUN = ("polars", "openlineage", "requests", "httpx")
"""What ``retail run`` and ``retail ingest``'s own process need not import (decision 0011,
third round): Polars is the reader worker's (the run's calendar and country tables are Arrow
kernels), OpenLineage events are written as JSON, alert channels import httpx when they send."""


@pytest.fixture(scope="module")
def run_modules() -> set[str]:
    return _loaded_after(
        "import retail_lakehouse.pipeline.runner\n"
        "import retail_lakehouse.observe.lineage.events\n"
        "import retail_lakehouse.pipeline.gold.dim_date\n"
        "import retail_lakehouse.pipeline.gold.dim_country"
    )


@pytest.mark.parametrize("library", NOT_IN_A_RUN)
def test_the_run_leaves_the_library_alone(run_modules: set[str], library: str) -> None:
    assert library not in run_modules


def test_the_reader_workers_stage_module_leaves_delta_rs_alone() -> None:
    """The worker stages and writes bronze files but opens no Delta table: its warm-up module
    loads neither delta-rs nor the writer's lock (decision 0021, eleventh round), while the
    store it no longer imports does (so the probe can fail)."""
    stage = _loaded_after("import retail_lakehouse.pipeline.bronze_stage")
    assert "deltalake" not in stage
    assert "filelock" not in stage
    assert "deltalake" in _loaded_after("import retail_lakehouse.lake.store")


def test_tomllib_is_loaded_only_where_there_is_a_settings_file(tmp_path: Path) -> None:
    """Importing tomllib compiles its regular expressions (0.006 CPU-s): a command run where no
    ``retail.toml`` is found (``--lake``, ``RETAIL_LAKE``) does without it."""
    probe = (
        "import json, sys\nfrom retail_lakehouse.config import load_settings\n"
        "load_settings(lake_unused=True)\nprint(json.dumps(sorted(sys.modules)))"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RETAIL_")}

    def loaded(folder: Path) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            cwd=folder,
            env=env,
        )
        return set(json.loads(done.stdout.splitlines()[-1]))

    bare, project = tmp_path / "bare", tmp_path / "project"
    bare.mkdir()
    project.mkdir()
    (project / "retail.toml").write_text('engine = "duckdb"\n')
    assert "pydantic" in loaded(bare)
    assert "tomllib" not in loaded(bare)
    assert "tomllib" in loaded(project)
