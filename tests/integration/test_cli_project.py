"""``retail init``, settings precedence, ``status --json`` and exit codes, from the user's side."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import RETAIL, RetailCli


def test_init_scaffolds_a_project_and_its_settings_are_used(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    done = subprocess.run(
        [RETAIL, "init", str(project)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (project / "landing").is_dir() and (project / "lake").is_dir()
    toml = (project / "retail.toml").read_text()
    assert 'lake = "lake"' in toml and "# rules = " in toml
    again = subprocess.run(
        [RETAIL, "init", str(project)], capture_output=True, text=True, check=False
    )
    assert again.returncode == 2 and "--force" in again.stderr

    (project / "retail.toml").write_text('lake = "warehouse"\n')
    (project / "warehouse").mkdir()  # read commands refuse a lake folder that does not exist
    (tmp_path / "from_env").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RETAIL_LAKE"}
    status = subprocess.run(
        [RETAIL, "status", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert '"lake": "' + str(project / "warehouse") in status.stdout
    env["RETAIL_LAKE"] = str(tmp_path / "from_env")
    status = subprocess.run(
        [RETAIL, "status", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert str(tmp_path / "from_env") in status.stdout


def test_status_json_shape(retail: RetailCli, lake_dir: Path, real_files: list[Path]) -> None:
    assert retail("ingest", real_files[2], lake=lake_dir).code == 0
    status = retail("status", "--json", lake=lake_dir).json()
    assert status["tables"]["bronze.sales_lines"] == {"rows": 99, "version": 0}
    assert status["runs"][0]["command"] == "ingest"
    accounting = status["accounting"]
    assert accounting["bronze"] == 99 and accounting["pending"] == 99 and accounting["balanced"]


def test_exit_codes_and_no_tracebacks(retail: RetailCli, lake_dir: Path, tmp_path: Path) -> None:
    unknown = retail("frobnicate", lake=lake_dir)
    assert unknown.code == 2
    missing = retail("ingest", tmp_path / "nope.csv", lake=lake_dir)
    assert missing.code == 2 and "no such file" in missing.stderr
    bad_option = retail("generate", "--rows", "-5", "--out", tmp_path / "x.csv")
    assert bad_option.code == 2
    for result in (unknown, missing, bad_option):
        assert "Traceback" not in result.stderr + result.stdout
    version = retail("--version")
    assert version.code == 0 and "retail-lakehouse" in version.stdout
