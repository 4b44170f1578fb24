"""A project made by the real ``retail init``, and the ``retail`` command run inside it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from retail_lakehouse.lake import Lake
from tests.conftest import RETAIL, CliResult


def make_project(root: Path, toml: str = "") -> Path:
    done = subprocess.run(
        [RETAIL, "init", str(root)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    if toml:
        with (root / "retail.toml").open("a") as config:
            config.write("\n" + toml)
    return root


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")} | {"COLUMNS": "200"}


def retail_in(project: Path, *args: str, timeout: float = 300) -> CliResult:
    done = subprocess.run(
        [RETAIL, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def heartbeat(project: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((project / "lake/_watch/heartbeat.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def count(project: Path, table: str) -> int:
    lake = Lake(project / "lake")
    return lake.read(table).num_rows if lake.exists(table) else 0
