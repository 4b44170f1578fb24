"""Interrupted commands, from the user's side: the reported bugs, the writer lock, meta.runs.

Each scenario is the real ``retail`` as a subprocess with a fault armed at a commit boundary
(``RETAIL_FAULT``), then the next command a user would type; the lake must then equal one built
without the fault, table by table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RETAIL, hung_run
from tests.integration.faults import (
    copy_lake,
    differences,
    no_journal_left,
    ok,
    retail,
    wait_for,
)
from tests.integration.test_cli_exit import _default_sigint as default_sigint

STRICT_RULES = """\
rules:
  - name: small_quantities
    dimension: accuracy
    expression: quantity < 20
    weight: 5
    action: quarantine
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    files = {"a": folder / "a.csv", "b": folder / "b.csv", "rules": folder / "strict.yaml"}
    ok("generate", "--rows", "2000", "--seed", "1", "--out", files["a"], lake=folder / "x")
    ok("generate", "--rows", "1500", "--seed", "2", "--out", files["b"], lake=folder / "x")
    files["rules"].write_text(STRICT_RULES)
    return files


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, Path]) -> dict[str, Path]:
    """The fault-free lakes several tests start from or compare with, built once per module
    (each test works on its own copy): a ingested; a ingested and run; a and b ingested (two
    commands) and run; a run, b run, then b retracted."""
    folder = tmp_path_factory.mktemp("lakes")
    a = folder / "a"
    ok("ingest", sources["a"], lake=a)
    a_run = copy_lake(a, folder / "a-run")
    ok("run", lake=a_run)
    ab_run = copy_lake(a, folder / "ab-run")
    ok("ingest", sources["b"], lake=ab_run)
    ok("run", lake=ab_run)
    retracted = copy_lake(a_run, folder / "b-retracted")
    ok("ingest", sources["b"], lake=retracted)
    ok("run", lake=retracted)
    ok("retract", "b.csv", lake=retracted)
    return {"a": a, "a-run": a_run, "ab-run": ab_run, "b-retracted": retracted}


def statuses(lake: Path) -> list[tuple[str, str]]:
    runs = ok("status", "--json", "--runs", "50", lake=lake).json()["runs"]
    return [(r["command"], r["status"]) for r in reversed(runs)]


def test_orphan_lines_then_reingest_are_not_doubled(
    tmp_path: Path, sources: dict[str, Path], lakes: dict[str, Path]
) -> None:
    """Issue 13, bug 1: an ingest failing between its lines and its manifest, then the same file
    again: bronze must hold it once and ``retail run`` must not remove it as duplicates."""
    clean = lakes["ab-run"]
    faulty = copy_lake(lakes["a"], tmp_path / "faulty")

    failed = retail("ingest", sources["b"], lake=faulty, fault="before:bronze.files:enospc")
    assert failed.code == 1 and "No space left on device" in failed.stderr
    again = ok("ingest", sources["b"], lake=faulty)
    assert "ingested" in again.stdout and "1,500" in again.stdout
    ok("run", lake=faulty)

    assert differences(clean, faulty) == []
    status = ok("status", "--json", lake=faulty).json()
    assert status["accounting"]["bronze"] == 3500 and status["accounting"]["balanced"]
    assert ("ingest", "failed") in statuses(faulty)
    files = ok(
        "sql", "SELECT _batch_seq FROM bronze.files ORDER BY 1", "--format", "json", lake=faulty
    )
    # batch 2 was reserved by the failed ingest and undone: never handed out again
    assert [row["_batch_seq"] for row in json.loads(files.stdout)] == [1, 3]


def test_killed_ingest_then_a_different_file(
    tmp_path: Path, sources: dict[str, Path], lakes: dict[str, Path]
) -> None:
    """Bug 1, second form: killed after its lines commit, then another file is ingested: the
    orphan lines must not reach silver or gold, and the killed run is in meta.runs."""
    clean, faulty = lakes["a-run"], tmp_path / "faulty"
    killed = retail("ingest", sources["b"], lake=faulty, fault="after:bronze.sales_lines:kill")
    assert killed.code == -signal.SIGKILL
    assert not no_journal_left(faulty)  # the intent is there for the next command
    recovering = ok("ingest", sources["a"], lake=faulty)
    assert "recovered interrupted ingest" in recovering.stdout
    assert "batch 1 undone (1,500 line(s) removed)" in recovering.stdout
    ok("run", lake=faulty)
    assert differences(clean, faulty) == []
    assert no_journal_left(faulty)
    assert statuses(faulty)[0] == ("ingest", "interrupted")
    # no partial Parquet file is left behind: every data file is referenced by the log
    from deltalake import DeltaTable

    folder = faulty / "bronze" / "sales_lines"
    live = {Path(uri).name for uri in DeltaTable(str(folder)).file_uris()}
    on_disk = {p.name for p in folder.glob("*.parquet")}
    removed_by_delete = on_disk - live  # files a Delta 'remove' keeps for time travel
    assert all((folder / "_delta_log").glob("*.json"))
    history_adds = set()
    for commit in (folder / "_delta_log").glob("*.json"):
        for line in commit.read_text().splitlines():
            if '"add"' in line:
                history_adds.add(Path(json.loads(line)["add"]["path"]).name)
    assert removed_by_delete <= history_adds


def test_interrupted_full_refresh_is_finished_by_the_next_run(
    tmp_path: Path, sources: dict[str, Path], lakes: dict[str, Path]
) -> None:
    """Issue 13, bug 2: ``run --full-refresh`` with changed rules, killed between the fact and the
    marts; the next ``retail run`` must rebuild, never say "nothing to do"."""
    base = lakes["ab-run"]
    clean = copy_lake(base, tmp_path / "clean")
    faulty = copy_lake(base, tmp_path / "faulty")
    rules = ("--rules", str(sources["rules"]))
    ok("run", "--full-refresh", *rules, lake=clean)

    killed = retail(
        "run", "--full-refresh", *rules, lake=faulty, fault="after:gold.fact_sales:kill"
    )
    assert killed.code == -signal.SIGKILL
    status = ok("status", "--json", lake=faulty).json()
    assert status["interrupted"] and status["accounting"]["balanced"] is None
    again = ok("run", *rules, lake=faulty)
    assert "nothing to do" not in again.stdout
    assert "rebuild" in again.stdout
    assert differences(clean, faulty) == []
    assert statuses(faulty)[-2:] == [("run --full-refresh", "interrupted"), ("run", "succeeded")]


@pytest.mark.parametrize("fault", ["after:gold.fact_sales:kill", "after:gold.fact_sales:enospc"])
def test_run_applying_a_retraction_interrupted_after_the_fact(
    tmp_path: Path, lakes: dict[str, Path], fault: str
) -> None:
    """The run taking a retracted file out of gold, stopped right after the fact's commit: the
    fact no longer held the retracted lines, so the next run found none of them to recompute
    the marts from, and failed its accounting check (the daily and product marts kept the
    retracted lines' revenue) on every run after it."""
    base = lakes["b-retracted"]
    clean = copy_lake(base, tmp_path / "clean")
    faulty = copy_lake(base, tmp_path / "faulty")
    ok("run", lake=clean)

    stopped = retail("run", lake=faulty, fault=fault)
    assert stopped.code != 0
    ok("run", lake=faulty)
    assert ok("status", "--json", lake=faulty).json()["accounting"]["balanced"] is True
    assert differences(clean, faulty) == []


def test_second_writer_waits_then_names_the_holder(
    tmp_path: Path, sources: dict[str, Path], lakes: dict[str, Path]
) -> None:
    lake = copy_lake(lakes["a"], tmp_path / "lake")
    holder = hung_run(lake, "before:gold.fact_sales")
    try:
        wait_for((lake / "gold" / "dim_invoice" / "_delta_log").is_dir, timeout=120)
        # a reader is never blocked, and says a run is in progress instead of judging
        status = ok("status", "--json", lake=lake).json()
        assert status["accounting"]["in_progress"]["command"] == "run"
        assert status["accounting"]["balanced"] is None
        busy = retail("--wait", "0.5", "ingest", sources["b"], lake=lake)
        assert busy.code == 1
        assert f"pid {holder.pid}" in busy.stderr and "run" in busy.stderr
        # the holder is killed: its lock goes with it, the next writer proceeds and recovers it
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait()
    assert (lake / ".writer.lock.holder").exists()  # the note of the killed holder, stale
    ok("--wait", "0", "ingest", sources["b"], lake=lake)
    ok("run", lake=lake)
    assert ("run", "interrupted") in statuses(lake)
    assert ok("status", "--json", lake=lake).json()["accounting"]["balanced"]


def test_every_commit_carries_its_run_id(lakes: dict[str, Path]) -> None:
    from deltalake import DeltaTable

    from retail_lakehouse.lake import Lake
    from retail_lakehouse.lake.commits import run_of

    lake = lakes["a-run"]
    runs = {r["run_id"]: r["command"] for r in ok("status", "--json", lake=lake).json()["runs"]}
    for name in Lake(lake).tables():
        for row in DeltaTable(str(Lake(lake).path(name))).history():
            assert run_of(row) in runs, (name, row)
            assert row["retail.command"] == runs[run_of(row) or ""]


def test_ctrl_c_is_recorded_as_interrupted_not_as_a_failure(
    tmp_path: Path, lakes: dict[str, Path]
) -> None:
    """Ctrl-C in the middle of a run: exit 130, what it had not committed undone at once, and
    ``meta.runs`` says ``interrupted`` by the user, as for a killed command, not ``failed``
    with ``KeyboardInterrupt:`` and an empty message (a failed run raises alerts)."""
    lake = copy_lake(lakes["a"], tmp_path / "lake")
    run = subprocess.Popen(
        [RETAIL, "--lake", str(lake), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RETAIL_FAULT": "before:silver.sales_lines:hang"},
        preexec_fn=default_sigint,  # noqa: PLW1509 (a background parent may ignore SIGINT)
    )
    try:
        wait_for(lambda: not no_journal_left(lake), timeout=120)  # its intent: it has begun
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130, stderr
    assert no_journal_left(lake)
    latest = ok("status", "--json", lake=lake).json()["runs"][0]
    assert (latest["command"], latest["status"]) == ("run", "interrupted")
    assert "Ctrl-C" in latest["error"] and "KeyboardInterrupt" not in latest["error"]
    ok("run", lake=lake)
    assert differences(lakes["a-run"], lake) == []
