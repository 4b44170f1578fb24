"""An idle ``retail run`` from the user's side: it answers from the Delta logs' versions, without
the engines, and any commit since the last run sends it down the full path again."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from retail_lakehouse.lake import Lake
from retail_lakehouse.pipeline.accounting import check_accounting
from tests.conftest import RETAIL, RetailCli
from tests.integration import faults

IDLE = "nothing to run"


def _run_with_imports(lake: Path) -> tuple[int, str, set[str]]:
    """``retail run`` with Python's import log on: exit code, stdout, top-level modules loaded."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [RETAIL, "--lake", str(lake), "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    loaded = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return done.returncode, done.stdout, loaded


def test_idle_run_skips_the_engines_and_any_change_takes_the_full_path(
    retail: RetailCli, lake_dir: Path, real_files: list[Path]
) -> None:
    assert retail("ingest", real_files[0], lake=lake_dir).code == 0
    first = retail("run", lake=lake_dir)
    assert first.code == 0, first.stderr
    assert IDLE not in first.stdout

    code, stdout, loaded = _run_with_imports(lake_dir)
    assert code == 0
    assert IDLE in stdout and "gold: nothing to do" in stdout
    assert not loaded & {"ibis", "duckdb", "pyarrow", "deltalake", "polars"}, loaded
    # the probe sees the engines when a run does use them
    assert retail("ingest", real_files[1], lake=lake_dir).code == 0
    code, stdout, loaded = _run_with_imports(lake_dir)
    assert code == 0 and IDLE not in stdout
    assert {"ibis", "duckdb"} <= loaded
    status = retail("status", "--json", lake=lake_dir).json()
    assert status["accounting"]["balanced"] and status["accounting"]["pending"] == 0
    # status ran the accounting query through delta-rs; the run's check runs it through DuckDB
    assert status["accounting"] == check_accounting(Lake(lake_dir))
    assert IDLE in retail("run", lake=lake_dir).stdout

    # any change since the last run takes the full path

    shutil.rmtree(lake_dir / "gold" / "mart_daily_sales")  # a table lost: gold rebuilds it
    rebuilt = retail("run", lake=lake_dir)
    assert rebuilt.code == 0 and IDLE not in rebuilt.stdout
    assert "gold: full rebuild" in rebuilt.stdout
    assert (lake_dir / "gold" / "mart_daily_sales" / "_delta_log").is_dir()
    assert IDLE in retail("run", lake=lake_dir).stdout

    (lake_dir / "_settled.json").write_text("not json", encoding="utf-8")  # a damaged record
    again = retail("run", lake=lake_dir)
    assert again.code == 0 and IDLE not in again.stdout and "nothing to do" in again.stdout

    refresh = retail("run", "--full-refresh", lake=lake_dir)
    assert refresh.code == 0 and IDLE not in refresh.stdout


def test_an_interrupted_command_is_work_for_the_next_run(
    lake_dir: Path, real_files: list[Path]
) -> None:
    """An intent left in ``_journal`` by a killed command changes no table version, yet the next
    ``retail run`` must recover it rather than answer "nothing to run"."""
    ok, retail = faults.ok, faults.retail
    ok("ingest", real_files[0], lake=lake_dir)
    ok("run", lake=lake_dir)
    assert IDLE in ok("run", lake=lake_dir).stdout

    killed = retail("run", "--full-refresh", lake=lake_dir, fault="before:silver.sales_lines:kill")
    assert killed.code != 0
    assert faults.intent_files(lake_dir / "_journal"), "the killed run left its intent"
    status = ok("status", "--json", lake=lake_dir).json()
    assert [i["command"] for i in status["interrupted"]] == ["run --full-refresh"]
    assert status["accounting"]["balanced"] is None  # not judged before the recovery

    after = ok("run", lake=lake_dir)
    assert IDLE not in after.stdout
    assert "recovered interrupted run --full-refresh" in after.stdout
    assert not faults.intent_files(lake_dir / "_journal")
    status = ok("status", "--json", lake=lake_dir).json()
    assert status["interrupted"] == [] and status["accounting"]["balanced"] is True
    assert IDLE in ok("run", lake=lake_dir).stdout
