"""Scratch files of killed writers are removed by the next writer into the same folder.

A backup killed while copying an object leaves ``objects/.tmp-*``; a server killed while storing
an upload leaves ``landing/.upload-*.part``. The kills are real (``RETAIL_FAULT=...:kill``
SIGKILLs the process between writing the scratch file and renaming it). The sweep itself is
checked on real files: only its own names, only when the writer is gone or the file is stale.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from retail_lakehouse.lake.scratch import STALE_SECONDS, scratch_path, sweep
from tests.integration.api.live import serve
from tests.integration.faults import ok, retail


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_sweep_removes_only_abandoned_files_of_its_own_kind(tmp_path: Path) -> None:
    live = scratch_path(tmp_path, "tmp")  # this process: alive
    live.write_bytes(b"x")
    dead = tmp_path / live.name.replace(f"-{os.getpid()}@", f"-{_dead_pid()}@", 1)
    dead.write_bytes(b"x")
    legacy_fresh = tmp_path / ".tmp-0123456789abcdef0123456789abcdef"  # no writer named
    legacy_fresh.write_bytes(b"x")
    legacy_stale = tmp_path / ".tmp-fedcba9876543210fedcba9876543210"
    legacy_stale.write_bytes(b"x")
    old = time.time() - STALE_SECONDS - 60
    os.utime(legacy_stale, (old, old))
    other_host = tmp_path / f".tmp-{_dead_pid()}@elsewhere-0123456789abcdef"  # pid not ours
    other_host.write_bytes(b"x")
    user_files = [tmp_path / n for n in (".tmp-notes", "x.tmp", ".tmp-12@h-xyz", "sales.csv")]
    for path in user_files:
        path.write_bytes(b"x")
        os.utime(path, (old, old))
    assert sorted(sweep(tmp_path, "tmp")) == sorted([dead, legacy_stale])
    assert live.exists() and legacy_fresh.exists() and other_host.exists()
    assert all(path.exists() for path in user_files)
    assert sweep(tmp_path / "missing", "tmp") == []


def test_the_next_backup_removes_the_scratch_object_of_a_killed_one(tmp_path: Path) -> None:
    lake, dest = tmp_path / "lake", tmp_path / "backups"
    source = tmp_path / "sales.csv"
    ok("generate", "--rows", "300", "--seed", "3", "--out", source, lake=lake)
    ok("ingest", source, lake=lake)
    killed = retail("backup", dest, lake=lake, fault="backup.object_copied:kill")
    assert killed.code == -9, killed
    left = list((dest / "objects").glob(".tmp-*"))
    assert len(left) == 1 and left[0].stat().st_size > 0
    again = ok("backup", dest, lake=lake)
    assert "removed 1 abandoned scratch file(s)" in again.stdout, again.stdout
    assert list((dest / "objects").glob(".tmp-*")) == []
    ok("restore", dest, "--lake", tmp_path / "restored", lake=lake)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_server_started_after_one_killed_mid_upload_removes_its_part_file(
    tmp_path: Path,
) -> None:
    lake, source = tmp_path / "lake", tmp_path / "sales.csv"
    ok("generate", "--rows", "50", "--seed", "3", "--out", source, lake=lake)
    ok("ingest", source, lake=lake)  # a small lake: the server's start is what is tested
    landing = lake.parent / "landing"
    landing.mkdir()
    (landing / ".upload-notes.part").write_text("a user's dot file: not ours")
    with serve(lake, env={"RETAIL_FAULT": "upload.stored:kill"}) as server:
        with server.client("admin") as admin, pytest.raises(httpx.TransportError):
            admin.post("/api/v1/files", files={"file": ("big.csv", b"a,b\n" * 300_000)})
        assert server.process.wait(timeout=60) == -9
    left = list(landing.glob(".upload-*@*.part"))
    assert len(left) == 1 and left[0].stat().st_size == 1_200_000
    with serve(lake) as server:
        assert list(landing.glob(".upload-*@*.part")) == []
        assert (landing / ".upload-notes.part").exists()
        log = next(lake.parent.glob(f"serve-{server.url.rsplit(':', 1)[1]}.log"))
    assert left[0].name in log.read_text()
