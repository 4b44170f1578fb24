"""A huge sparse file named like a CSV (a terabyte of NUL bytes that costs no disk) is refused
by its first bytes, before the command hashes it: hashing is the one read of a file the
command's own process does, and it is not under the reader's time limit (a 20 GB one took 339 s
there, 35 CPU-s, before the reader refused it in a moment)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_retail


def test_a_terabyte_sparse_csv_is_refused_by_its_first_bytes(
    tmp_path: Path, real_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAIL_LIMITS__MAX_FILE_MB", str(2**21))  # past its size: this test
    # is of the binary test that comes next (the size limit has its own test below)
    lake = tmp_path / "lake"
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:
        handle.truncate(2**40)  # sparse: 1 TiB of NUL bytes, no disk used
    good = tmp_path / "good.csv"
    good.write_bytes(real_files[2].read_bytes())

    # A hang guard, not a speed target: hashing 1 TiB takes far longer than this.
    done = run_retail("ingest", huge, good, lake=lake, timeout=300)

    assert done.code == 2, done.stdout + done.stderr[-2000:]
    assert f"{huge}, line 1: binary content in a text file" in done.stderr, done.stderr[-2000:]
    assert "ingested" in done.stdout  # the file after it goes on
    assert os.path.getsize(huge) == 2**40


def test_a_file_past_the_size_limit_is_refused_by_its_size_before_it_is_read(
    tmp_path: Path, real_files: list[Path]
) -> None:
    """A 50 GB sparse file whose first bytes are good CSV lines passes the binary test, so it
    was hashed whole (minutes, outside the reader's limits) before any reader saw it. Its size
    alone refuses it now: ``stat``, not a byte read."""
    lake = tmp_path / "lake"
    huge = tmp_path / "huge.csv"
    head = real_files[2].read_bytes()[:20_000]
    huge.write_bytes(head[: head.rindex(b"\n") + 1])
    with huge.open("r+b") as handle:
        handle.truncate(50 * 2**30)  # sparse: no disk used
    good = tmp_path / "good.csv"
    good.write_bytes(real_files[2].read_bytes())

    done = run_retail("ingest", huge, good, lake=lake, timeout=120)

    assert done.code == 2, done.stdout + done.stderr[-2000:]
    assert (
        f"{huge}: the file is 53,687,091,200 bytes, more than the 4,096 MB allowed "
        "(limits.max_file_mb)" in done.stderr
    ), done.stderr[-2000:]
    assert "ingested" in done.stdout  # the file after it goes on
    status = run_retail("status", lake=lake)
    assert "huge.csv" not in status.stdout
