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


def test_the_demo_never_mixes_its_sample_sales_into_a_lake_or_landing_of_real_files(
    tmp_path: Path,
) -> None:
    """``retail demo`` in a project ingested 100,000 generated sales (and the bundled samples)
    into the project's lake, beside the shop's own files, and dropped its generated file into
    the project's landing/, where ``retail watch`` ingests it (sixteenth round's audit). It now
    refuses a lake holding files it did not write (exit 2, naming one), and keeps its generated
    file in the lake's own folder; on its own lake it can run again."""
    from tests.conftest import run_retail

    landing = tmp_path / "landing"
    landing.mkdir()
    own = tmp_path / "march.csv"
    assert run_retail("generate", "--rows", "50", "--out", own, lake=tmp_path / "x").code == 0
    shop = tmp_path / "shop-lake"
    assert run_retail("ingest", own, lake=shop).code == 0
    env = {**os.environ, "RETAIL_LANDING": str(landing)}

    def demo(lake: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RETAIL, "--lake", str(lake), "demo", "--rows", "300"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip

    refused = demo(shop)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    said = " ".join(refused.stderr.split())
    assert str(shop) in said and "march.csv" in said and "new lake" in said, said
    lines = subprocess.run(
        [RETAIL, "--lake", str(shop), "sql", "-f", "csv", "SELECT count(*) FROM bronze.files"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert lines.stdout.split() == ["count_star()", "1"], lines.stdout + lines.stderr
    for _ in range(2):
        done = demo(tmp_path / "demo-lake")
        assert done.returncode == 0, done.stdout + done.stderr
    assert list(landing.iterdir()) == []
