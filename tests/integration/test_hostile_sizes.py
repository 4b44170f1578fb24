"""A huge sparse file named like a CSV (a terabyte of NUL bytes that costs no disk) is refused
by its first bytes, before the command hashes it: hashing is the one read of a file the
command's own process does, and it is not under the reader's time limit (a 20 GB one took 339 s
there, 35 CPU-s, before the reader refused it in a moment)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_retail


def test_a_terabyte_sparse_csv_is_refused_by_its_first_bytes(
    tmp_path: Path, real_files: list[Path]
) -> None:
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
