"""``retail watch`` from the user's side: a project from ``retail init``, files copied into
``landing/``, the real command as a subprocess (``--once`` and long-running, stopped by pid)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest

from retail_lakehouse.lake import Lake
from tests.conftest import REAL_DATA, RETAIL
from tests.integration.orchestrate.project import (
    count,
    env,
    heartbeat,
    make_project,
    retail_in,
)
from tests.integration.orchestrate.receivers import (
    channels_toml,
    http_receiver,
    smtp_receiver,
    wait_for,
)

SAMPLE = REAL_DATA / "online_retail_head_1071.csv"
SECOND = REAL_DATA / "online_retail_head_999_short_dates.csv"


def test_once_ingests_and_processes_and_a_second_once_changes_no_table(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    shutil.copy(SAMPLE, project / "landing")

    first = retail_in(project, "watch", "--once", "--settle", "0.2")
    assert first.code == 0, first.stderr + first.stdout
    assert "ingested online_retail_head_1071.csv: 1,071 lines" in first.stdout
    assert count(project, "bronze.sales_lines") == 1071
    assert count(project, "gold.fact_sales") == count(project, "silver.sales_lines") > 0
    lake = Lake(project / "lake")
    versions = lake.versions()

    second = retail_in(project, "watch", "--once", "--settle", "0.2")
    assert second.code == 0, second.stderr
    assert "skipped online_retail_head_1071.csv" in second.stdout
    assert lake.versions() == versions  # not one commit to any table

    status = retail_in(project, "status", "--json").json()
    assert status["watcher"]["alive"] is False
    assert status["watcher"]["last_file"] == "online_retail_head_1071.csv"


def test_once_says_the_runs_warnings(tmp_path: Path) -> None:
    """A watcher's user reads its log, not a run's report: a likely day/month swap (or any
    warning of the run) is said there too."""
    import polars as pl

    project = make_project(tmp_path / "shop")
    generated = tmp_path / "dayfirst.csv"
    made = retail_in(
        project,
        "generate",
        "-n",
        "3000",
        "--seed",
        "7",
        "-o",
        str(generated),
        "--date-order",
        "dmy",
    )
    assert made.code == 0, made.stderr
    frame = pl.read_csv(generated, infer_schema_length=0)
    day = frame["InvoiceDate"].str.extract(r"^(\d+)/", 1).cast(pl.Int32)
    frame.filter(day > 12).write_csv(project / "landing" / "a known.csv")
    frame.filter(day <= 12).write_csv(project / "landing" / "b days 1-12.csv")
    done = retail_in(project, "watch", "--once", "--settle", "0.2")
    assert done.code == 0, done.stderr + done.stdout
    said = " ".join(done.stdout.split())
    assert "b days 1-12.csv (batch 2): likely day/month swap" in said, said


def test_long_running_watcher_takes_complete_files_only_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    project = make_project(
        tmp_path / "shop",
        "[watch]\nsettle_seconds = 1.0\nquiet_seconds = 0.5\npoll_max_seconds = 2\n",
    )
    landing = project / "landing"
    log = (tmp_path / "watch.log").open("w")
    watcher = subprocess.Popen(
        [RETAIL, "watch"], cwd=project, stdout=log, stderr=subprocess.STDOUT, env=env()
    )
    try:
        wait_for(lambda: heartbeat(project).get("state") == "watching", timeout=120)

        # a second watcher on the same project refuses to start and names the first
        second = retail_in(project, "watch", "--once")
        assert second.code == 1
        assert f"pid {watcher.pid}" in second.stderr

        # a file written in pieces (pauses shorter than the settle time) is taken whole
        lines = SAMPLE.read_bytes().splitlines(keepends=True)
        growing = landing / "growing.csv"
        with growing.open("wb") as out:
            for start in range(0, len(lines), 215):
                out.write(b"".join(lines[start : start + 215]))
                out.flush()
                time.sleep(0.3)
        written = time.monotonic()
        wait_for(
            lambda: (
                heartbeat(project).get("last_file") == "growing.csv"
                and heartbeat(project).get("last_run_status") == "succeeded"
            ),
            timeout=120,
        )
        took = time.monotonic() - written
        assert count(project, "bronze.sales_lines") == len(lines) - 1  # all lines, once
        assert count(project, "gold.fact_sales") > 0

        # the .part protocol: written under a temporary name, renamed when complete
        part = landing / "second.csv.part"
        shutil.copy(SECOND, part)
        time.sleep(1.5)  # longer than the settle time: a .part file is never taken
        assert count(project, "bronze.sales_lines") == len(lines) - 1
        part.rename(landing / "second.csv")
        wait_for(lambda: heartbeat(project).get("last_file") == "second.csv", timeout=120)
        assert count(project, "bronze.sales_lines") == len(lines) - 1 + 999

        status = retail_in(project, "status")
        assert "watcher: alive" in status.stdout
        print(f"file complete -> processed in {took:.1f}s")
    finally:
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(timeout=120)
        log.close()
    output = (tmp_path / "watch.log").read_text()
    assert code == 0, output
    assert "SIGTERM received" in output
    assert heartbeat(project)["state"] == "stopped"


def test_a_landing_folder_removed_and_made_again_is_watched_again(tmp_path: Path) -> None:
    """Its inotify watch dies with the folder: the watcher says the folder is gone, and takes
    a file dropped into the new folder within seconds (it saw nothing for poll_max_seconds,
    30 s here, at a time, and said nothing)."""
    project = make_project(tmp_path / "shop", "[watch]\nsettle_seconds = 0.5\nquiet_seconds = 60\n")
    landing = project / "landing"
    log_path = tmp_path / "watch.log"
    with log_path.open("w") as log:
        watcher = subprocess.Popen(
            [RETAIL, "watch"], cwd=project, stdout=log, stderr=subprocess.STDOUT, env=env()
        )
        try:
            wait_for(lambda: heartbeat(project).get("state") == "watching", timeout=120)
            shutil.rmtree(landing)
            wait_for(lambda: "is gone" in log_path.read_text(), timeout=20)
            landing.mkdir()
            shutil.copy(SAMPLE, landing / "after.csv")
            wait_for(lambda: heartbeat(project).get("last_file") == "after.csv", timeout=20)
            # removed and made again at once (`rm -rf landing && mkdir landing`): the watcher may
            # never see it gone, but its events watch the old folder; the new one is watched
            shutil.rmtree(landing)
            landing.mkdir()
            time.sleep(1)  # the removal's events reach the watcher before the new file
            lines = SAMPLE.read_bytes().splitlines(keepends=True)
            (landing / "replaced.csv").write_bytes(b"".join(lines[:101]))  # another content
            wait_for(lambda: heartbeat(project).get("last_file") == "replaced.csv", timeout=15)
        finally:
            watcher.send_signal(signal.SIGTERM)
            code = watcher.wait(timeout=120)
    output = log_path.read_text()
    assert code == 0, output
    assert f"the landing folder {landing} is gone" in output
    assert f"the landing folder {landing} is back" in output
    assert count(project, "bronze.sales_lines") == 1071 + 100


def test_refused_files_move_aside_with_their_reason_and_alert_once(tmp_path: Path) -> None:
    with http_receiver() as http, smtp_receiver() as smtp:
        project = make_project(tmp_path / "shop", channels_toml(http, smtp))
        landing = project / "landing"
        (landing / "empty.csv").write_bytes(b"")
        (landing / "notes.pdf").write_bytes(b"%PDF-1.4 not sales")
        shutil.copy(SAMPLE, landing)

        done = retail_in(project, "watch", "--once", "--settle", "0.2", "--archive")
        assert done.code == 2, done.stderr + done.stdout  # refused files: exit 2
        refused = landing / "_refused"
        assert sorted(p.name for p in refused.iterdir()) == [
            "empty.csv",
            "empty.csv.reason.txt",
            "notes.pdf",
            "notes.pdf.reason.txt",
        ]
        assert "the file is empty" in (refused / "empty.csv.reason.txt").read_text()
        assert "unsupported file type" in (refused / "notes.pdf.reason.txt").read_text()
        assert count(project, "gold.fact_sales") > 0  # the good file went all the way
        [archived] = (landing / "_archive").glob("*/online_retail_head_1071.csv")
        assert archived.parent.name == date.today().isoformat()
        assert not (landing / "online_retail_head_1071.csv").exists()

        kinds = sorted(b["kind"] for b in http.bodies("/hook"))
        assert kinds == ["file_refused", "file_refused"]
        assert len(http.bodies("/slack")) == 2 and "refused" in http.bodies("/slack")[0]["text"]
        assert len(smtp.messages) == 2
        assert "file refused" in str(smtp.messages[0]["Subject"])

        # the same unreadable file dropped again is refused again, but not alerted again
        (landing / "empty.csv").write_bytes(b"")
        again = retail_in(project, "watch", "--once", "--settle", "0.2")
        assert again.code == 2
        assert len(http.bodies("/hook")) == 2
        listed = retail_in(project, "alerts", "list", "--json").json()
        assert [a["kind"] for a in listed] == ["file_refused", "file_refused"]
        assert all(a["delivered"] for a in listed)


def test_failed_gate_is_alerted_and_not_retried(tmp_path: Path) -> None:
    with http_receiver() as http, smtp_receiver() as smtp:
        project = make_project(
            tmp_path / "shop",
            'rules = ["strict.yaml"]\n'
            + "[watch]\nretry_attempts = 3\nretry_backoff_seconds = 0.1\n"
            + channels_toml(http, smtp),
        )
        (project / "strict.yaml").write_text(
            "rules:\n  - name: customer_present\n    action: fail\n    threshold: 0.0\n"
        )
        shutil.copy(SAMPLE, project / "landing")
        done = retail_in(project, "watch", "--once", "--settle", "0.2")
        assert done.code == 1, done.stdout + done.stderr
        assert done.stdout.count("run failed") == 1  # the same data fails the same way
        # the reason once on the terminal; the alert line says only that one was raised
        terminal = done.stdout + done.stderr
        assert terminal.count("quality gate 'customer_present' failed") == 1, terminal
        assert "alert quality_gate_failed raised" in done.stderr
        [alert] = http.bodies("/hook")
        assert alert["kind"] == "quality_gate_failed"
        assert "customer_present" in alert["message"]
        assert "quality gate failed" in str(smtp.messages[0]["Subject"])
        assert count(project, "silver.sales_lines") == 0  # the gate committed nothing


@pytest.mark.soak  # ~25-55 s on 2 cores: run by `make soak`
@pytest.mark.parametrize("delay", [0.5, 2.0, 5.0])
def test_a_watcher_killed_mid_file_loses_nothing(tmp_path: Path, delay: float) -> None:
    """SIGKILL at moments of start-up, ingest or run; the next start completes the work."""
    project = make_project(tmp_path / "shop", "[watch]\nsettle_seconds = 0\nquiet_seconds = 0\n")
    shutil.copy(SAMPLE, project / "landing")
    watcher = subprocess.Popen(
        [RETAIL, "watch"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=env(),
    )
    wait_for(lambda: heartbeat(project).get("state") in {"watching", "running"}, timeout=120)
    time.sleep(delay)
    watcher.kill()
    watcher.wait(timeout=30)
    done = retail_in(project, "watch", "--once", "--settle", "0")
    assert done.code == 0, done.stderr + done.stdout
    assert count(project, "bronze.sales_lines") == 1071
    accounting = retail_in(project, "status", "--json").json()["accounting"]
    assert accounting["balanced"] and accounting["pending"] == 0


def test_a_full_lake_disk_while_decompressing_leaves_the_file_in_landing(tmp_path: Path) -> None:
    """A .csv.gz is decompressed on the lake's disk: when that disk is full the watcher says
    so and tries the file again later; before, the good file went to landing/_refused/."""
    import gzip

    project = make_project(tmp_path / "shop")
    packed = project / "landing" / "sales.csv.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    done = subprocess.run(
        [RETAIL, "watch", "--once", "--settle", "0"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env=env() | {"RETAIL_FAULT": "ingest.decompressing:enospc"},
        check=False,
    )
    assert "No space left on device" in done.stdout + done.stderr, done.stdout + done.stderr
    assert packed.exists()
    assert not (project / "landing" / "_refused").exists()
    again = retail_in(project, "watch", "--once", "--settle", "0")
    assert "ingested sales.csv.gz: 1,071 lines" in again.stdout, again.stdout + again.stderr


def test_a_landing_folder_holding_the_lake_or_the_settings_is_refused_at_start(
    tmp_path: Path,
) -> None:
    """``landing = "."`` in a project: the watcher took the lake's own files and moved
    retail.toml, its heartbeat and its lock into _refused/. It must refuse to start instead."""
    project = make_project(tmp_path / "shop")
    config = project / "retail.toml"
    config.write_text(config.read_text().replace('landing = "landing"', 'landing = "."'))
    shutil.copy(SAMPLE, project)
    done = retail_in(project, "watch", "--once", "--settle", "0")
    assert done.code == 2, done.stdout + done.stderr
    assert "landing" in done.stderr and "lake" in done.stderr, done.stderr
    assert config.exists() and not (project / "_refused").exists()


def _newer_format(project: Path) -> None:
    """The lake's format record as a newer release would leave it (format 4)."""
    import json

    record_path = project / "lake" / "_journal" / "lake-format.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["notes"]["format"] = 4
    record_path.write_text(json.dumps(record), encoding="utf-8")


def test_a_lake_in_a_newer_format_stops_the_watcher_with_the_reason(tmp_path: Path) -> None:
    """A lake a newer release wrote is refused by every writing command (exit 2). The watcher
    retried its run with backoff (30 s, 60 s, ...) as if the lake were busy, and took each new
    file again at every poll. It now refuses to start, or stops when the record appears while it
    runs, with exit 2 and the reason; the files stay in landing/ (not refused: nothing is wrong
    with them) and the lake is untouched."""
    project = make_project(
        tmp_path / "shop",
        "[watch]\nsettle_seconds = 0.2\nquiet_seconds = 0.2\npoll_max_seconds = 1\n",
    )
    landing = project / "landing"
    shutil.copy(SAMPLE, landing / "first.csv")
    assert retail_in(project, "watch", "--once", "--settle", "0").code == 0
    _newer_format(project)
    shutil.copy(SECOND, landing / "second.csv")

    once = retail_in(project, "watch", "--once", "--settle", "0", timeout=60)

    said = " ".join(once.stderr.split())
    assert once.code == 2, once.stdout + once.stderr
    assert "has format 4" in said and "Upgrade retail-lakehouse" in said, said
    assert "internal error" not in said and "retrying" not in once.stdout, once.stdout
    assert (landing / "second.csv").exists() and not (landing / "_refused").exists()
    assert count(project, "bronze.sales_lines") == 1071

    # while it runs: the record appears, then a file; the watcher stops by itself, exit 2
    record = project / "lake" / "_journal" / "lake-format.json"
    record.write_text(record.read_text().replace('"format": 4', '"format": 3'))
    (landing / "second.csv").rename(tmp_path / "second.csv")
    log = (tmp_path / "watch.log").open("w")
    watcher = subprocess.Popen(
        [RETAIL, "watch"], cwd=project, stdout=log, stderr=subprocess.STDOUT, env=env()
    )
    try:
        wait_for(lambda: heartbeat(project).get("state") == "watching", timeout=120)
        _newer_format(project)
        (tmp_path / "second.csv").rename(landing / "second.csv")
        code = watcher.wait(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.send_signal(signal.SIGTERM)
            watcher.wait(timeout=60)
        log.close()
    output = " ".join((tmp_path / "watch.log").read_text().split())
    assert code == 2, output
    assert "has format 4" in output and "Upgrade retail-lakehouse" in output, output
    assert (landing / "second.csv").exists() and not (landing / "_refused").exists()
    assert count(project, "bronze.sales_lines") == 1071


def test_a_service_manager_is_told_not_to_restart_a_refusal(tmp_path: Path) -> None:
    """Exit 2 is a refusal that repeats until a person acts (a lake in a newer format, a bad
    option or landing/): the shipped systemd unit does not restart on it, and ``retail watch
    --help`` says what each exit code means."""
    from tests.conftest import REPO

    guide = (REPO / "docs" / "running-every-day.md").read_text()
    unit = guide[guide.index("# /etc/systemd/system/retail-watch.service") :]
    unit = unit[: unit.index("```")]
    assert "Restart=on-failure" in unit
    assert "RestartPreventExitStatus=2" in unit
    said = " ".join(retail_in(tmp_path, "watch", "--help").stdout.split())
    assert "RestartPreventExitStatus=2" in said
    assert "2 a refusal" in said
