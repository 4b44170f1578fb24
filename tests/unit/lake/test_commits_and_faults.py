"""Every Delta commit goes through ``lake/commits.py`` (run id + fault points); the fault hook."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from retail_lakehouse.lake import Lake, intents
from retail_lakehouse.lake.commits import commit_metadata, run_of, tagged
from retail_lakehouse.lake.faults import _parse
from retail_lakehouse.lake.holder import pid_alive

SRC = Path(__file__).resolve().parents[3] / "src" / "retail_lakehouse"
COMMIT_CALLS = re.compile(
    r"write_deltalake\(|\.create_write_transaction\(|create_table_with_add_actions\(|"
    r"\.alter\.|\.merge\(|\.restore\(|\.vacuum\(|\.optimize\.|(?<!lake)\.delete\("
)
ALLOWED = {
    "lake/store.py",
    "lake/staged.py",
    "lake/maintenance.py",
    "lake/recovery.py",
    "lake/backup.py",
    "pipeline/bronze.py",
}
"""Modules that commit to Delta. Each commit there is inside ``with commit(...)`` (checked
below); a new module that commits must do the same and be listed here."""


def test_no_delta_commit_bypasses_the_commit_helper() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).as_posix()
        text = path.read_text(encoding="utf-8")
        for match in COMMIT_CALLS.finditer(text):
            line = text[: match.start()].count("\n") + 1
            source_line = text.splitlines()[line - 1].strip()
            if source_line.startswith(("#", '"', "@router")) or "import" in source_line:
                continue
            if relative not in ALLOWED:
                offenders.append(f"{relative}:{line}: {source_line}")
                continue
            before = text[: match.start()].splitlines()[-15:]
            if not any("with commit(" in b for b in before):
                offenders.append(f"{relative}:{line}: not inside `with commit(...)`")
    assert offenders == []


def test_commits_carry_the_run(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    assert commit_metadata() == {}
    with tagged("20260101T000000-abcdef12", "test"):
        lake.write("meta.watermarks", pa.table({"consumer": ["x"], "batch_seq": [1]}))
        lake.delete("meta.watermarks", "consumer = 'x'")
    history = DeltaTable(str(lake.path("meta.watermarks"))).history()
    assert [run_of(row) for row in history] == ["20260101T000000-abcdef12"] * 2
    assert {row["retail.command"] for row in history} == {"test"}


def test_fault_spec_parsing() -> None:
    assert _parse(None) is None
    assert _parse("before:silver.sales_lines:kill") == ("before:silver.sales_lines", 1, "kill")
    assert _parse("after:meta.watermarks@2:enospc") == ("after:meta.watermarks", 2, "enospc")
    with pytest.raises(ValueError, match="RETAIL_FAULT"):
        _parse("before:x:explode")


def test_injected_enospc_and_trace(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    code = (
        "from retail_lakehouse.lake import faults\n"
        "faults.point('a')\n"
        "try:\n"
        "    faults.point('a')\n"
        "except OSError as e:\n"
        "    print(e.errno)\n"
    )
    env = {**os.environ, "RETAIL_FAULT": "a@2:enospc", "RETAIL_FAULT_TRACE": str(trace)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "28"  # ENOSPC
    assert trace.read_text().split() == ["a@1", "a@2"]
    env["RETAIL_FAULT"] = "a:kill"
    killed = subprocess.run([sys.executable, "-c", code], env=env, check=False)
    assert killed.returncode == -9


def test_pending_intents_and_dead_pids(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    intent = intents.begin(lake, "r1", "ingest")
    intent.note(batch_seq=4)
    (found,) = intents.pending(lake)
    assert (found.run_id, found.notes, found.pid) == ("r1", {"batch_seq": 4}, os.getpid())
    intents.end(intent)
    assert intents.pending(lake) == []
    assert pid_alive(os.getpid())
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert not pid_alive(gone.pid)


def test_floors_never_go_back(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    assert intents.read_floor(lake, "n") == 0
    intents.raise_floor(lake, "n", 5)
    intents.raise_floor(lake, "n", 3)
    assert intents.read_floor(lake, "n") == 5
